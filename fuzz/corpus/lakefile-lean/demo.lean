import Lake
open Lake DSL

package «demo» where
  srcDir := "."
  packagesDir := ".lake/packages"

/- a block comment /- nested -/ with `lean_lib Fake` inside -/
@[default_target]
lean_lib Demo where
  roots := #[`Demo, `Demo.Extra]
  globs := #[.submodules `Demo, .one `Main]

lean_lib «Odd Name» where
  srcDir := "odd"

lean_exe demo where
  root := `Main

require util from "util"
require batteries from git "https://example.invalid/batteries" @ "main"
require "leanprover-community" / "mathlib" @ git "v4.9.0"
