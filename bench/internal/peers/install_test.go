package peers

import "testing"

func TestLookup(t *testing.T) {
	if Lookup("sh") == "" {
		t.Fatal(`Lookup("sh") = "", want a path`)
	}
	if got := Lookup("meshlite-no-such-binary"); got != "" {
		t.Fatalf("Lookup of a missing binary = %q, want empty", got)
	}
}

func TestEnsureNothingMissing(t *testing.T) {
	// Every binary present: Ensure must not call apt-get at all (nil logger
	// would panic if it tried to log the install).
	if err := Ensure(t.Context(), nil, []Package{{Binary: "sh", Package: "dash"}}); err != nil {
		t.Fatal(err)
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Fatalf("tail = %q, want %q", got, "b\nc")
	}
}
