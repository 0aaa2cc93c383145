// Package commands is armsbot's core: what a chat message asks for and how
// it is answered, whatever chat platform carried it and however ARMS and the
// shared state are reached.
//
// It holds the domain types (Message, Contact, Reply), the ports it needs
// from the outside (ports.go: Contacts, Permissions, Confirmations,
// AuditLog), the error codes and the kinds of ARMS failure (errors.go), one
// Spec per command (spec.go), which drives the parser, validation, help and
// the audit trail, the handlers (handle_*.go), and the one place where an
// error becomes chat text (reply.go). How text becomes words lives in
// commands/grammar and the text of every reply in commands/catalog.
//
// The adapters import this package, never the reverse: arms implements
// Contacts, bot/redisstore the rest, and bot wires them to a Runner.
package commands
