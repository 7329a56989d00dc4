// Package arch checks the dependency rule of the ports-and-adapters layout:
// domain imports only the standard library, app never imports an adapter,
// and adapters never import each other (the HTTP adapter may drive app).
package arch

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/codecheck/codecheck"

// imports returns, per package directory under root, the imports of its
// non-test files.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, imp := range f.Imports {
			out[dir] = append(out[dir], strings.Trim(imp.Path.Value, `"`))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDomainImportsOnlyStandardLibrary(t *testing.T) {
	for dir, imps := range imports(t, "../../domain") {
		for _, imp := range imps {
			if strings.Contains(strings.Split(imp, "/")[0], ".") {
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}

func TestAppImportsNoAdapter(t *testing.T) {
	for dir, imps := range imports(t, "../../app") {
		for _, imp := range imps {
			if strings.HasPrefix(imp, module+"/adapters") || strings.HasPrefix(imp, module+"/cmd") {
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}

func TestAdaptersDoNotImportEachOther(t *testing.T) {
	for dir, imps := range imports(t, "../../adapters") {
		own := adapterOf(strings.TrimPrefix(dir, "../../"))
		for _, imp := range imps {
			if !strings.HasPrefix(imp, module+"/adapters/") {
				if strings.HasPrefix(imp, module+"/app") && own != "adapters/http" {
					t.Errorf("%s imports %s: only the HTTP adapter may drive app", dir, imp)
				}
				continue
			}
			other := adapterOf(strings.TrimPrefix(imp, module+"/"))
			// adapters/KIND/internal packages are shared code of one kind.
			shared := strings.HasSuffix(other, "/internal") && strings.HasPrefix(own, strings.TrimSuffix(other, "internal"))
			if other != own && !shared {
				t.Errorf("%s imports another adapter: %s", dir, imp)
			}
		}
	}
}

// adapterOf maps a path to its adapter: adapters/KIND/NAME, or
// adapters/NAME for single adapters such as http and webhook.
func adapterOf(path string) string {
	parts := strings.Split(path, "/")
	switch {
	case len(parts) >= 3 && (parts[1] == "store" || parts[1] == "executor" || parts[1] == "llm"):
		return strings.Join(parts[:3], "/")
	case len(parts) >= 2:
		return strings.Join(parts[:2], "/")
	}
	return path
}

// The store's query layer is the seam between the store core and the
// engines: nothing else may reach past the core into it.
func TestOnlyStoreCoreAndEnginesImportTheQueryLayer(t *testing.T) {
	const layer = module + "/adapters/store/internal/driver"
	allowed := map[string]bool{
		"../../adapters/store/internal/core": true,
		"../../adapters/store/sqlite":        true,
		"../../adapters/store/postgres":      true,
	}
	seen := 0
	for dir, imps := range imports(t, "../..") {
		for _, imp := range imps {
			if imp != layer {
				continue
			}
			seen++
			if !allowed[dir] {
				t.Errorf("%s imports the store's query layer %s; only the store core and the engine adapters may", dir, imp)
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("the query layer is imported %d times; expected by each of %d packages (did it move?)", seen, len(allowed))
	}
}
