// Package pages writes the pages a request asks a provider to read
// (ports.SectionRequest.ReadURLs) into its prompt, the same way for every
// provider: a page-reading tool (Gemini's URL context, Perplexity's
// fetch_url, OpenAI's web_search open_page) reads the URLs the prompt names.
package pages

import "strings"

// Heading introduces the list of pages in the prompt.
const Heading = "Pages to read in full before answering (open each one):"

// Prompt is user followed by the list of urls, one per line; user alone
// when there are none.
func Prompt(user string, urls []string) string {
	if len(urls) == 0 {
		return user
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(user, "\n"))
	b.WriteString("\n\n" + Heading + "\n")
	for _, u := range urls {
		b.WriteString("- " + strings.Join(strings.Fields(u), "") + "\n")
	}
	return b.String()
}
