// A shared library that is not a stage plugin (no tbbpipe_register_stages): the CLI must say so.
extern "C" int some_other_function() {
    return 42;
}
