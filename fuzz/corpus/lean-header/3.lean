module

public import Demo.Basic
meta import all Demo.«Odd Name»
import all Demo
public meta import Demo.Basic

section
end
