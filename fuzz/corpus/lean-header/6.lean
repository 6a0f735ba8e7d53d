import «Util».Core

theorem x : True := trivial
