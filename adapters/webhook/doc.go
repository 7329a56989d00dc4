// Package webhook delivers job notifications to user-supplied URLs: it
// checks webhook URLs against server-side request forgery at submit time
// (Validator) and again at dial time, and sends the deliveries the store
// owes (ports.WebhookOutbox) signed the Standard Webhooks way, retrying with
// exponential backoff (Sender). The backlog and the retry times live in the
// store, never only in memory, so a restart loses no delivery.
//
// Like every adapter but the HTTP one it must not import package app; it
// never logs the signing secret, nor webhook URLs beyond their host.
package webhook
