/* sym_other_lib.c - an unrelated object, whose debug file test_sym_inline
 * puts where its binary's debug file is looked for: it must be refused
 * (another build id). */
int sym_other_function(int x);
int sym_other_function(int x) { return x * 3 + 1; }
