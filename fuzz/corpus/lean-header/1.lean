/-! Module doc. -/
import Demo.Basic -- a comment

def hello := "hi"
