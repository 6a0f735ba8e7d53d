prelude
import Init.Prelude
/- block /- nested -/ -/
import Init.Core
