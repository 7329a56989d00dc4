package openai

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/codecheck/codecheck/adapters/llm/internal/classify"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// outputItem is one element of a response's output[], read from go-openai's
// untyped Output: it models neither web_search_call actions nor their
// sources. Which fields are set depends on Type ("message",
// "web_search_call", "reasoning", ...).
type outputItem struct {
	Type    string `json:"type"`
	Content []struct {
		Type        string `json:"type"` // "output_text" or "refusal"
		Text        string `json:"text"`
		Refusal     string `json:"refusal"`
		Annotations []struct {
			Type  string `json:"type"` // "url_citation", "file_citation", ...
			URL   string `json:"url"`
			Title string `json:"title"`
			// StartIndex and EndIndex bound the cited span of Text, in
			// characters (code points), end exclusive.
			StartIndex *int `json:"start_index"`
			EndIndex   *int `json:"end_index"`
		} `json:"annotations"`
	} `json:"content"`
	Action *struct {
		Type    string `json:"type"` // "search", "open_page", "find"
		Sources []struct {
			Type string `json:"type"` // "url"; "api" sources name a data feed, not a page
			URL  string `json:"url"`
		} `json:"sources"`
	} `json:"action"`
}

// parse branches on the response status: only completed and incomplete
// responses carry an answer.
func (c *Client) parse(resp goopenai.CreateResponseResponse) (ports.SectionResponse, error) {
	truncated := false
	switch resp.Status {
	case goopenai.ResponseStatusCompleted:
	case goopenai.ResponseStatusIncomplete:
		if err := c.incomplete(resp); err != nil {
			return ports.SectionResponse{}, err
		}
		truncated = true
	case goopenai.ResponseStatusFailed, goopenai.ResponseStatusCancelled:
		return ports.SectionResponse{}, c.runFailure(resp)
	case goopenai.ResponseStatusQueued, goopenai.ResponseStatusInProgress:
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true,
			Message: fmt.Sprintf("response not finished (status %q)", resp.Status)}
	default:
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: fmt.Sprintf("unexpected response status %q", c.classify.Clean(string(resp.Status)))}
	}
	items, err := outputItems(resp.Output)
	if err != nil {
		return ports.SectionResponse{}, c.classify.Malformed(err)
	}
	text, refusal := answerText(items)
	if refusal != "" {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: "model refused: " + c.classify.Clean(refusal)}
	}
	out := ports.SectionResponse{Content: text, Model: cmp.Or(resp.Model, c.model), Truncated: truncated}
	if resp.Usage != nil {
		out.Usage = domain.Usage{InputTokens: int64(resp.Usage.InputTokens), OutputTokens: int64(resp.Usage.OutputTokens)}
	}
	for _, it := range items {
		if it.Type == "web_search_call" && (it.Action == nil || it.Action.Type == "" || it.Action.Type == "search") {
			out.Usage.SearchCalls++ // billed per search; open_page and find are not searches
		}
	}
	if c.search {
		out.Sources = sources(items)
		out.Spans = spans(items, out.Sources)
		out.Grounded = len(out.Sources) > 0
	}
	if out.Content == "" && !out.Truncated {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true,
			Message: "completed response without answer text"}
	}
	return out, nil
}

// incomplete accepts a response cut at the output limit (returned Truncated,
// so the agent can ask again) and refuses one stopped by the content filter.
func (c *Client) incomplete(resp goopenai.CreateResponseResponse) error {
	reason := ""
	if resp.IncompleteDetails != nil {
		reason = resp.IncompleteDetails.Reason
	}
	if reason == "content_filter" {
		return &ports.ProviderError{Provider: name, Message: "answer withheld by the content filter"}
	}
	return nil
}

// runFailure classifies a failed or cancelled response, which arrives as
// HTTP 200. It failed on the server side, so it is retryable unless the
// error says the request itself is at fault (invalid prompt, content
// policy): retrying those cannot help. We never cancel responses ourselves,
// so a cancelled one was stopped by the server and is retryable.
func (c *Client) runFailure(resp goopenai.CreateResponseResponse) error {
	pe := &ports.ProviderError{Provider: name, Retryable: true}
	msg, code := "", ""
	if resp.Error != nil {
		msg, code = resp.Error.Message, strings.ToLower(resp.Error.Code)
	}
	pe.Message = classify.WithDetail("response "+string(resp.Status), c.classify.Clean(msg))
	if resp.Status == goopenai.ResponseStatusFailed {
		for _, permanent := range []string{"invalid", "auth", "permission", "content", "safety", "policy"} {
			if strings.Contains(code, permanent) {
				pe.Retryable = false
			}
		}
	}
	pe.Err = errors.New(pe.Message)
	return pe
}

func outputItems(output []any) ([]outputItem, error) {
	raw, err := json.Marshal(output)
	if err != nil {
		return nil, err
	}
	var items []outputItem
	err = json.Unmarshal(raw, &items)
	return items, err
}

// answerText joins the output_text parts of the message items, and returns
// the model's refusal if it gave one instead.
func answerText(items []outputItem) (text, refusal string) {
	var b strings.Builder
	for _, it := range items {
		if it.Type != "message" {
			continue
		}
		for _, p := range it.Content {
			switch p.Type {
			case "output_text":
				b.WriteString(p.Text)
			case "refusal":
				refusal += p.Refusal
			}
		}
	}
	return strings.TrimSpace(b.String()), refusal
}

// sources lists the pages the answer cites (url_citation annotations, in
// order), then the other pages the searches consulted; one per URL,
// numbered 1..n. The agent renumbers and de-duplicates across a section
// later.
func sources(items []outputItem) []domain.Source {
	var out []domain.Source
	seen := map[string]bool{}
	add := func(url, title string) {
		if url == "" || seen[url] {
			return
		}
		seen[url] = true
		out = append(out, domain.Source{ID: len(out) + 1, URL: url, Title: title, Official: domain.IsOfficialURL(url)})
	}
	for _, it := range items {
		for _, p := range it.Content {
			for _, a := range p.Annotations {
				if it.Type == "message" && a.Type == "url_citation" {
					add(a.URL, a.Title)
				}
			}
		}
	}
	for _, it := range items {
		if it.Type != "web_search_call" || it.Action == nil {
			continue
		}
		for _, s := range it.Action.Sources {
			if s.Type == "" || s.Type == "url" {
				add(s.URL, "")
			}
		}
	}
	return out
}

// spans ties each url_citation's span of the answer text to the source
// its URL became, so the agent can check a finding's quote against the text
// the citation covers. Annotations without valid indices are left out.
func spans(items []outputItem, srcs []domain.Source) []ports.GroundingSpan {
	ids := make(map[string]int, len(srcs))
	for _, s := range srcs {
		ids[s.URL] = s.ID
	}
	var out []ports.GroundingSpan
	for _, it := range items {
		if it.Type != "message" {
			continue
		}
		for _, p := range it.Content {
			text := []rune(p.Text)
			for _, a := range p.Annotations {
				id, ok := ids[a.URL]
				if a.Type != "url_citation" || !ok || a.StartIndex == nil || a.EndIndex == nil {
					continue
				}
				start, end := *a.StartIndex, *a.EndIndex
				if start < 0 || end > len(text) || start >= end {
					continue
				}
				span := strings.TrimSpace(string(text[start:end]))
				if span == "" {
					continue
				}
				if n := len(out); n > 0 && out[n-1].Text == span && !slices.Contains(out[n-1].SourceIDs, id) {
					out[n-1].SourceIDs = append(out[n-1].SourceIDs, id) // one span cited by several pages
					continue
				}
				out = append(out, ports.GroundingSpan{Text: span, SourceIDs: []int{id}})
			}
		}
	}
	return out
}

// schemaName keeps the characters OpenAI allows in a schema name
// (a-z, A-Z, 0-9, _ and -, at most 64).
func schemaName(s string) string {
	var b strings.Builder
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if ok && b.Len() < 64 {
			b.WriteRune(r)
		}
	}
	return cmp.Or(b.String(), "section")
}
