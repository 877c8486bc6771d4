"""The local Google Cloud stack (emulators, REST stand-ins, demo API) used by `make demo` and the tests."""
