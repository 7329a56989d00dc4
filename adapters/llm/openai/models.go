package openai

import (
	"strconv"
	"strings"
)

// CanSearch reports whether model can use the Responses API's web_search
// tool, going by OpenAI's model documentation: the gpt-4o and gpt-4.1
// families (except gpt-4.1-nano), o3, o4-mini, and gpt-5 and later. The
// Chat Completions search models (…-search-preview, …-search-api) search
// only there, and audio, realtime, speech and image models have no tools.
// Dated snapshots ("gpt-4.1-mini-2025-04-14"), fine-tunes ("ft:gpt-4.1:…")
// and a routing prefix ("openai/gpt-5") are read as their base model. An
// unknown name (a proxy's deployment alias) is not trusted to search.
func CanSearch(model string) bool {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimPrefix(m, "ft:")
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, no := range []string{"gpt-4.1-nano", "o3-mini", "-search-", "-audio", "-realtime", "-transcribe", "-tts", "-image"} {
		if strings.Contains(m, no) {
			return false
		}
	}
	for _, family := range []string{"gpt-4o", "gpt-4.1", "o3", "o4-mini"} {
		if m == family || strings.HasPrefix(m, family+"-") {
			return true
		}
	}
	return gptAtLeast5(m)
}

// gptAtLeast5 reports whether m is gpt-N… with N >= 5 ("gpt-5-mini",
// "gpt-5.4", "gpt-6-astra").
func gptAtLeast5(m string) bool {
	rest, ok := strings.CutPrefix(m, "gpt-")
	if !ok {
		return false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n < 5 {
		return false
	}
	return end == len(rest) || rest[end] == '-' || rest[end] == '.'
}
