package main

import "context"

func runServe(ctx context.Context, env *environment, args []string) error {
	return usagef("serve: not built yet")
}

func runOpenAPI(ctx context.Context, env *environment, args []string) error {
	return usagef("openapi: not built yet")
}
