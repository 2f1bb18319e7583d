package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	auditv1 "github.com/meshlite/meshlite/api/audit/v1"
)

// TestSchemaListsFieldsInOrder holds api/audit/v1/audit-line.schema.json to
// the encoder: its properties, in document order, and its required list are
// exactly Fields, and it is the schema of SchemaVersion.
func TestSchemaListsFieldsInOrder(t *testing.T) {
	var s struct {
		ID       string   `json:"$id"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(auditv1.Schema, &s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Required, Fields[:]) {
		t.Errorf("schema required:\n got %v\nwant %v", s.Required, Fields)
	}
	if props := schemaPropertyOrder(t, auditv1.Schema); !slices.Equal(props, Fields[:]) {
		t.Errorf("schema properties in order:\n got %v\nwant %v", props, Fields)
	}
	if want := fmt.Sprintf("/v%d/", SchemaVersion); !strings.Contains(s.ID, want) {
		t.Errorf("schema $id %q is not under %s", s.ID, want)
	}
}

// schemaPropertyOrder returns the keys of the schema's top-level
// "properties" object in document order.
func schemaPropertyOrder(t *testing.T, schema []byte) []string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(schema, &top); err != nil {
		t.Fatal(err)
	}
	props, ok := top["properties"]
	if !ok {
		t.Fatal("schema has no properties")
	}
	return keysInOrder(t, bytes.TrimSpace(props))
}
