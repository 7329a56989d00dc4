package app

import (
	"context"
	"time"

	"golang.org/x/time/rate"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Limit wraps a provider so that all jobs of a process share one limit on
// concurrent requests and on requests per minute. Zero means no limit.
func Limit(llm ports.LLM, concurrent, perMinute int) ports.LLM {
	l := &limited{LLM: llm}
	if concurrent > 0 {
		l.slots = make(chan struct{}, concurrent)
	}
	if perMinute > 0 {
		// The burst lets one job's sections start together; the rate holds
		// over the minute.
		burst := min(perMinute, max(len(domain.SectionKeys()), perMinute/10))
		l.rate = rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), burst)
	}
	return l
}

type limited struct {
	ports.LLM
	slots chan struct{}
	rate  *rate.Limiter
}

func (l *limited) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	if l.slots != nil {
		select {
		case l.slots <- struct{}{}:
			defer func() { <-l.slots }()
		case <-ctx.Done():
			return ports.SectionResponse{}, ctx.Err()
		}
	}
	if l.rate != nil {
		if err := l.rate.Wait(ctx); err != nil {
			return ports.SectionResponse{}, err
		}
	}
	return l.LLM.Research(ctx, req)
}
