import Demo.Basic
