/* unzstd.c - stdin (one zstd frame or more) -> stdout, for the test intake,
 * so the tests need no zstd command-line tool. */
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

int main(void) {
  ZSTD_DStream *d = ZSTD_createDStream();
  size_t inlen = ZSTD_DStreamInSize(), outlen = ZSTD_DStreamOutSize();
  char *in = malloc(inlen), *out = malloc(outlen);
  if (!d || !in || !out) return 2;
  ZSTD_initDStream(d);
  size_t n, last = 0, total = 0;
  while ((n = fread(in, 1, inlen, stdin)) > 0) {
    total += n;
    ZSTD_inBuffer ib = {in, n, 0};
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob = {out, outlen, 0};
      last = ZSTD_decompressStream(d, &ob, &ib);
      if (ZSTD_isError(last)) {
        fprintf(stderr, "unzstd: %s\n", ZSTD_getErrorName(last));
        ZSTD_freeDStream(d);
        free(in);
        free(out);
        return 1;
      }
      fwrite(out, 1, ob.pos, stdout);
    }
  }
  ZSTD_freeDStream(d);
  free(in);
  free(out);
  if (total == 0 || last != 0) {
    fprintf(stderr, "unzstd: truncated or empty input\n");
    return 1;
  }
  return 0;
}
