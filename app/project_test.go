package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func TestProjectReachesEverySectionPrompt(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	stories := 1
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
		Provider: "scripted", Project: &domain.Project{Use: " single-family dwelling ", Scope: domain.ScopeADU, Stories: &stories}})
	require.NoError(t, err)
	require.Equal(t, "single-family dwelling", job.Project.Use, "the project is normalised on submit")

	_, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Len(t, e.llm.calls, 13)
	for _, c := range e.llm.calls {
		require.Contains(t, c.User, "<project>\nIntended use or occupancy: single-family dwelling\nScope of work: adu\nStories: 1\n</project>",
			"section %s", c.Section.Key)
	}
	r := e.report(t, job.ID)
	require.Equal(t, job.Project, r.Job.Project)
	require.NotNil(t, r.ResearchedAt)
}

func TestSubmitRefusesBadProjectAndHashesIt(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ctx := context.Background()
	_, _, err := e.svc.Submit(ctx, app.SubmitRequest{Address: "1 Main St, Springfield, IL", Provider: "scripted",
		Project: &domain.Project{Scope: "demolition"}})
	var ve *domain.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "project.scope", ve.Field)

	req := app.SubmitRequest{Address: "1 Main St, Springfield, IL", Provider: "scripted", IdempotencyKey: "k",
		Project: &domain.Project{Scope: domain.ScopeNew}}
	first, _, err := e.svc.Submit(ctx, req)
	require.NoError(t, err)
	again, existed, err := e.svc.Submit(ctx, req)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, first.ID, again.ID)
	req.Project = &domain.Project{Scope: domain.ScopeAddition}
	_, _, err = e.svc.Submit(ctx, req)
	require.True(t, errors.Is(err, domain.ErrIdempotencyMismatch), "same key, another project: %v", err)
}
