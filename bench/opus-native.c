/*
 * The native reference of `npm run bench` (bench/cpu.ts): libopus itself, encoding the same raw
 * 16 kHz mono S16_LE file as speakerd's uplink does (VOIP, 60 ms frames, the given complexity).
 * Only the encode loop is timed, with this process's CPU clock; reading the file is not.
 *
 *   opus-native FILE [COMPLEXITY]   → one JSON line: frames, bytes, cpu_ns
 *
 * Built at bench time with `gcc -O2 bench/opus-native.c -lopus` (Debian: libopus-dev).
 */
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RATE 16000
#define FRAME_SAMPLES 960 /* 60 ms at 16 kHz (protocol.md §4.1) */
#define MAX_PACKET 4000   /* more than any single Opus packet (1275 bytes per frame, ×3) */

static long long cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
    perror("clock_gettime");
    exit(1);
  }
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s FILE.raw [COMPLEXITY]\n", argv[0]);
    return 2;
  }
  int complexity = argc == 3 ? atoi(argv[2]) : 5;

  /* The whole file in memory first, so the timed loop does no I/O. */
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  if (fseek(f, 0, SEEK_END) != 0) {
    perror("fseek");
    return 1;
  }
  long size = ftell(f);
  rewind(f);
  if (size <= 0) {
    fprintf(stderr, "%s: empty\n", argv[1]);
    return 1;
  }
  opus_int16 *pcm = malloc((size_t)size);
  if (!pcm || fread(pcm, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "%s: read failed\n", argv[1]);
    return 1;
  }
  fclose(f);
  /* S16_LE read as host-order int16: every machine this runs on (x86-64, arm64) is little-endian. */
  long frames = size / (FRAME_SAMPLES * 2);

  int err = 0;
  OpusEncoder *enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &err);
  if (err != OPUS_OK || !enc) {
    fprintf(stderr, "opus_encoder_create: %s\n", opus_strerror(err));
    return 1;
  }
  err = opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(complexity));
  if (err != OPUS_OK) {
    fprintf(stderr, "OPUS_SET_COMPLEXITY: %s\n", opus_strerror(err));
    return 1;
  }

  unsigned char packet[MAX_PACKET];
  long long bytes = 0;
  long long t0 = cpu_ns();
  for (long i = 0; i < frames; i++) {
    opus_int32 n = opus_encode(enc, pcm + i * FRAME_SAMPLES, FRAME_SAMPLES, packet, MAX_PACKET);
    if (n < 0) {
      fprintf(stderr, "opus_encode: %s\n", opus_strerror(n));
      return 1;
    }
    bytes += n;
  }
  long long t1 = cpu_ns();

  printf("{\"frames\":%ld,\"bytes\":%lld,\"cpu_ns\":%lld,\"version\":\"%s\"}\n", frames, bytes, t1 - t0,
         opus_get_version_string());
  opus_encoder_destroy(enc);
  free(pcm);
  return 0;
}
