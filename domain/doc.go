// Package domain holds codecheck's core model: jobs, sections, their status
// rules, the 13-section catalogue, the report and the sentinel errors.
//
// It imports only the standard library and must never learn about storage,
// transport or providers: those live behind the interfaces in package ports.
package domain
