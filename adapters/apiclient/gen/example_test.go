package gen_test

import (
	"context"
	"fmt"
	"log"

	"github.com/codecheck/codecheck/adapters/apiclient/gen"
)

// The README's five lines: submit a job to a server, read it back, and
// tell a problem document by its type. (Not run: it needs a server;
// test/e2e/genclient_test.go drives a real one.)
func Example() {
	ctx := context.Background()
	c, _ := gen.NewClientWithResponses("http://127.0.0.1:8080")
	provider := gen.Fake
	r, _ := c.SubmitJobWithResponse(ctx, nil, gen.SubmitJobBody{Address: "1600 Pennsylvania Ave NW, Washington, DC 20500", LlmProvider: &provider})
	job, _ := c.GetJobWithResponse(ctx, r.JSON202.Id)
	if p := job.ApplicationproblemJSON404; p != nil {
		log.Fatal(p.Code, ": ", p.Title)
	}
	fmt.Println(job.JSON200.Status, job.JSON200.Progress)
}
