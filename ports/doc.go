// Package ports declares the interfaces the application needs from the
// outside world: job storage with change notifications, executors that run
// jobs, and LLM providers. Adapters implement them; package app depends only
// on them. Each method's comment states its error contract.
package ports
