package httpapi

import "github.com/danielgtaylor/huma/v2"

// submitExample is the request body the docs page's "Try it" sends by
// default. It names the fake provider and no webhook, so it succeeds on a
// server with nothing but CODECHECK_FAKE_LLM=1 and never spends on a real
// provider by accident (a server without the fake provider answers 422
// naming CODECHECK_FAKE_LLM). The example Huma derives from the field tags
// would name the first provider and a webhook URL, which such a server
// refuses.
var submitExample = map[string]any{
	"address":      "1600 Pennsylvania Ave NW, Washington, DC 20500",
	"llm_provider": "fake",
	"project": map[string]any{
		"use": "single-family dwelling", "scope": "adu", "stories": 1, "floor_area_sqft": 800,
		"description": "Detached ADU in the rear yard",
	},
}

// documentSubmitExample sets submitExample as the example of POST /jobs.
func documentSubmitExample(api huma.API) {
	item := api.OpenAPI().Paths["/jobs"]
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		return
	}
	if mt := item.Post.RequestBody.Content["application/json"]; mt != nil {
		mt.Example = submitExample
	}
}
