package perplexity

import "encoding/json"

// The Agent API rejects unknown request fields with HTTP 400, so the request
// types carry only documented fields and omit what is unset.

type agentRequest struct {
	Model           string          `json:"model"`
	Instructions    string          `json:"instructions,omitempty"`
	Input           string          `json:"input"`
	Tools           []tool          `json:"tools,omitempty"`
	ResponseFormat  *responseFormat `json:"response_format,omitempty"`
	MaxOutputTokens int             `json:"max_output_tokens,omitempty"`
}

type tool struct {
	Type    string       `json:"type"`
	Filters *toolFilters `json:"filters,omitempty"`
	// MaxURLs bounds the pages one fetch_url call reads (1 to 10).
	MaxURLs int `json:"max_urls,omitempty"`
}

// toolFilters narrow the web_search tool. Entries of search_domain_filter
// without a "-" prefix are an allowlist.
type toolFilters struct {
	SearchDomainFilter []string `json:"search_domain_filter,omitempty"`
}

type responseFormat struct {
	Type       string     `json:"type"` // "json_schema"
	JSONSchema jsonSchema `json:"json_schema"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
}

// Response status values. Failed and cancelled runs arrive with HTTP 200.
const (
	statusCompleted  = "completed"
	statusIncomplete = "incomplete"
	statusFailed     = "failed"
	statusCancelled  = "cancelled"
	statusInProgress = "in_progress"
	statusQueued     = "queued"
)

type agentResponse struct {
	ID                string       `json:"id"`
	Model             string       `json:"model"`
	Status            string       `json:"status"`
	Output            []outputItem `json:"output"`
	Error             *apiError    `json:"error"`
	Usage             *usage       `json:"usage"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
}

// outputItem is one element of output[]; which fields are set depends on
// Type ("message", "search_results", "fetch_url_results", ...).
type outputItem struct {
	Type    string         `json:"type"`
	Content []contentPart  `json:"content"` // message
	Results []searchResult `json:"results"` // search_results
}

type contentPart struct {
	Type string `json:"type"` // "output_text"
	Text string `json:"text"`
}

// searchResult is one web result. id is the number the model cites; date is
// the publication date and last_updated the page's last change, when known.
type searchResult struct {
	ID          int    `json:"id"`
	URL         string `json:"url"`
	Title       string `json:"title"`
	Snippet     string `json:"snippet"`
	Date        string `json:"date"`
	LastUpdated string `json:"last_updated"`
}

type usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	Cost         *struct {
		TotalCost *float64 `json:"total_cost"`
	} `json:"cost"`
}

// apiError is the error object, both in the {"error": {...}} envelope of a
// non-2xx response and inside a failed run. code may be a string or a number.
type apiError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

type errorEnvelope struct {
	Error *apiError `json:"error"`
}

// codeString returns code as text whether it was sent as a string or a number.
func (e *apiError) codeString() string {
	if e == nil || len(e.Code) == 0 || string(e.Code) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	return string(e.Code)
}
