// Package auditv1 holds version 1 of the audit line's JSON Schema
// (draft 2020-12), the contract that scripts and `controlplane suggest` read
// audit lines by. Fields are only ever added, at the end.
package auditv1

import _ "embed"

// Schema is audit-line.schema.json.
//
//go:embed audit-line.schema.json
var Schema []byte
