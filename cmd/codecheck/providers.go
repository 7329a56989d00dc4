package main

import "github.com/codecheck/codecheck/ports"

// realProviders builds the configured real providers (those with an API key).
func realProviders(cfg config) ([]ports.LLM, error) {
	return nil, nil
}
