/* legacy: a C service built with an executable stack, so the default policy fails it. */
int main(void) { return 0; }
