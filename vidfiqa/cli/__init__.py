"""The command line: a thin leaf that parses options, calls the library and prints."""
