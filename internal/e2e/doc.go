// Package e2e holds end-to-end tests of whole servers working in real
// seconds: scheduled rotation with a consumer reading a file target, and
// several server processes sharing one PostgreSQL.
package e2e
