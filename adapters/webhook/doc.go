// Package webhook delivers job notifications to user-supplied URLs: it
// checks webhook URLs against server-side request forgery at submit time
// (Validator) and again at dial time, and POSTs each finished job signed the
// Standard Webhooks way, retrying with exponential backoff (Sender).
//
// It must not import package app's internals beyond the Hooks type it
// offers, and never logs the signing secret.
package webhook
