// Package webhook delivers job notifications to user-supplied URLs: it
// checks webhook URLs against server-side request forgery at submit time
// (Validator) and again at dial time, and POSTs each finished job signed the
// Standard Webhooks way, retrying with exponential backoff (Sender).
//
// Like every adapter but the HTTP one it must not import package app; it
// never logs the signing secret, nor webhook URLs beyond their host.
package webhook
