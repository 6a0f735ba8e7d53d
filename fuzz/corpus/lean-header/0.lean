import Demo
import Demo.Extra

def main : IO Unit := IO.println Demo.hello
