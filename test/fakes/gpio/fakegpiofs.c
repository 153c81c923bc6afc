/*
 * fakegpiofs: a FUSE imitation of the legacy sysfs GPIO ABI (/sys/class/gpio) for integration tests
 * on machines without GPIOLIB (test-infra.md §2.2). The real onoff and its epoll addon run against it
 * unchanged, interrupts included, inside a private mount namespace (see fake-sysfs-ns.sh).
 *
 * What it imitates, following drivers/gpio/gpiolib-sysfs.c:
 *   export, unexport          write-only; a number no chip covers → EINVAL, an exported or
 *                             driver-held line → EBUSY, unexport of a line not exported → EINVAL.
 *   gpiochipN/{base,label,ngpio}  read-only, from FAKEGPIO_CHIPS ("base:ngpio:label,…").
 *   gpioN/value               the LOGICAL value = physical level XOR active_low. Writing it on an
 *                             input → EPERM (value_store); any non-zero number is 1 (kstrtol).
 *   gpioN/direction           "in"/"out"; "high", "low" and "out" make an output with that RAW
 *                             (physical) level: direction_store calls gpiod_direction_output_raw, so
 *                             active_low does not apply ("out" = "low"). Output while an edge is
 *                             armed → EIO (gpiod_direction_output refuses a line used as IRQ).
 *   gpioN/edge                none/rising/falling/both on the LOGICAL value, as the kernel swaps the
 *                             IRQ trigger when active_low is set. Arming it on an output → EIO
 *                             (gpiochip_lock_as_irq refuses an output).
 *   gpioN/active_low          0/non-zero. Flipping it never raises an event (the kernel only
 *                             re-requests the IRQ with the other trigger); the logical value of an
 *                             input or output simply inverts, the physical level stays.
 *   poll on value             POLLPRI|POLLERR after an edge until that open file reads value again
 *                             (kernfs), pending poll handles are woken with fuse_notify_poll.
 *   open files of an unexported line  read/write → ENODEV, poll → POLLERR|POLLPRI (kernfs on a
 *                             removed node).
 * Test-only addition:
 *   gpioN/level               the PHYSICAL level "0"/"1". Reading it on an output is what the LED
 *                             gets; writing it on an input is the outside world driving the pin
 *                             (raises edge events); writing it on an output → EPERM, because nothing
 *                             outside can override a pin the SoC drives and such a test is wrong.
 * Environment (read once at start; a bad value is a startup error, exit 2):
 *   FAKEGPIO_CHIPS  default "512:58:pinctrl-bcm2711,570:8:raspberrypi-exp-gpio" (Pi 4, kernel ≥ 6.6).
 *   FAKEGPIO_BUSY   lines a kernel driver holds (export → EBUSY). When it and FAKEGPIO_CHIPS are both
 *                   unset: the default Pi 4's 554 (GPIO42, ACT LED), 572 (PWR LED), 574
 *                   (VDD_SD_IO_SEL regulator), 576 (SD_PWR_ON regulator). "" = none.
 *   FAKEGPIO_HIGH   lines the outside world pulls high from the start (e.g. a button with pull-up),
 *                   so an active-low button reads "not pressed" the moment it is exported.
 *   FAKEGPIO_TRACE  a file to append one line per accepted export/unexport/attribute write to:
 *                   "<monotonic ms> <line> <what> dir=<in|out> active_low=<0|1> level=<0|1>".
 * Every exported line starts as an input with edge none and active_low 0 (gpiod_free clears
 * active_low; pinctrl-bcm2835 turns a freed pin back into an input). An input's level is what the
 * outside world drives; it survives unexport/export, as the wiring does.
 *
 * Build: gcc -Wall -Wextra -O2 fakegpiofs.c $(pkg-config --cflags --libs fuse3) -o fakegpiofs
 * Run:   fakegpiofs -f -s -o allow_other,default_permissions /sys/class/gpio   (in a private mount ns)
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAXCHIPS 16
#define MAXNGPIO 1024
#define LABELMAX 64
/* kernfs answers poll with this mask, plus POLLERR|POLLPRI once an event is pending. */
#define DEFAULT_POLLMASK (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)

enum edge { EDGE_FALLING = 1, EDGE_RISING = 2 }; /* bit flags, as GPIO_IRQF_TRIGGER_* */
static const char *const edge_names[] = {"none", "falling", "rising", "both"};

struct line {
  int exported;
  unsigned gen; /* bumped by export and unexport, so files opened before go stale */
  int busy;     /* held by a kernel driver */
  int out;      /* direction */
  int drive;    /* physical level the SoC drives while out */
  int ext;      /* physical level the outside world drives or pulls while in */
  int active_low;
  int edge;
  unsigned event; /* counts edges, like the kernfs node's event counter */
  long num;       /* the global (sysfs) number, for the trace */
};

struct chip {
  int base, ngpio;
  char label[LABELMAX];
  struct line *lines;
};

enum kind { K_ROOT, K_EXPORT, K_UNEXPORT, K_CHIPDIR, K_CHIPATTR, K_LINEDIR, K_LINEATTR };
enum attr { A_VALUE, A_DIRECTION, A_EDGE, A_ACTIVE_LOW, A_LEVEL, A_BASE, A_LABEL, A_NGPIO, A_NONE };
static const char *const line_attrs[] = {"value", "direction", "edge", "active_low", "level"};
static const char *const chip_attrs[] = {"base", "label", "ngpio"};

struct node {
  enum kind kind;
  enum attr attr;
  struct chip *chip;
  struct line *line;
};

/* One per open(): remembers which event it has seen, as a kernfs open file does. */
struct fh {
  struct fh *next;
  struct node node;
  unsigned gen, seen;
  struct fuse_pollhandle *ph;
};

static struct chip chips[MAXCHIPS];
static int nchips;
static struct fh *handles;
static time_t started;
/* FAKEGPIO_TRACE: every accepted write, in order, with the physical level after it. A test reads
 * it to see what an LED showed even between its own polls, and after the line was unexported. */
static FILE *trace_file;
/* fake-sysfs-ns.sh runs us single-threaded (-s); the lock keeps a multi-threaded run correct too. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct line *line_of(long n, struct chip **chip) {
  for (int i = 0; i < nchips; i++)
    if (n >= chips[i].base && n < (long)chips[i].base + chips[i].ngpio) {
      if (chip) *chip = &chips[i];
      return &chips[i].lines[n - chips[i].base];
    }
  return NULL;
}

/* A decimal as sysfs names it ("gpio529", never "gpio0529" or "gpio+5"); returns the end or NULL. */
static const char *parse_name_number(const char *s, long *n) {
  if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return NULL;
  long v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (INT_MAX - 9) / 10) return NULL;
    v = v * 10 + (*s - '0');
  }
  *n = v;
  return s;
}

static int attr_index(const char *name, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

/* Maps a path to a node; returns 0 or -ENOENT. */
static int parse(const char *path, struct node *nd) {
  memset(nd, 0, sizeof *nd);
  nd->attr = A_NONE;
  if (!strcmp(path, "/")) { nd->kind = K_ROOT; return 0; }
  if (!strcmp(path, "/export")) { nd->kind = K_EXPORT; return 0; }
  if (!strcmp(path, "/unexport")) { nd->kind = K_UNEXPORT; return 0; }
  long n;
  const char *rest;
  if (!strncmp(path, "/gpiochip", 9)) {
    if (!(rest = parse_name_number(path + 9, &n))) return -ENOENT;
    for (int i = 0; i < nchips; i++)
      if (chips[i].base == n) nd->chip = &chips[i];
    if (!nd->chip) return -ENOENT;
    if (!*rest) { nd->kind = K_CHIPDIR; return 0; }
    int a = *rest == '/' ? attr_index(rest + 1, chip_attrs, 3) : -1;
    if (a < 0) return -ENOENT;
    nd->kind = K_CHIPATTR;
    nd->attr = (enum attr)(A_BASE + a);
    return 0;
  }
  if (strncmp(path, "/gpio", 5) || !(rest = parse_name_number(path + 5, &n))) return -ENOENT;
  nd->line = line_of(n, &nd->chip);
  if (!nd->line || !nd->line->exported) return -ENOENT;
  if (!*rest) { nd->kind = K_LINEDIR; return 0; }
  int a = *rest == '/' ? attr_index(rest + 1, line_attrs, 5) : -1;
  if (a < 0) return -ENOENT;
  nd->kind = K_LINEATTR;
  nd->attr = (enum attr)a;
  return 0;
}

static mode_t file_mode(const struct node *nd) {
  if (nd->kind == K_EXPORT || nd->kind == K_UNEXPORT) return 0200;
  if (nd->kind == K_CHIPATTR) return 0444;
  return 0644;
}

static int physical(const struct line *l) { return l->out ? l->drive : l->ext; }
static int logical(const struct line *l) { return physical(l) ^ l->active_low; }

/* One trace line: "<monotonic ms> <line> <what> dir=<in|out> active_low=<0|1> level=<0|1>". */
static void trace(const struct line *l, const char *what) {
  if (!trace_file) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  fprintf(trace_file, "%.3f %ld %s dir=%s active_low=%d level=%d\n", ts.tv_sec * 1e3 + ts.tv_nsec / 1e6, l->num,
          what, l->out ? "out" : "in", l->active_low, physical(l));
}

/* A write as sysfs hands it to a store(): at most one page, NUL-terminated. */
static void copy_input(char *dst, size_t cap, const char *buf, size_t size) {
  size_t n = size < cap - 1 ? size : cap - 1;
  memcpy(dst, buf, n);
  dst[n] = 0;
}

/* sysfs_streq: equal except for one trailing newline on either side. */
static int sysfs_streq(const char *s, const char *word) {
  size_t n = strlen(word);
  return !strncmp(s, word, n) && (s[n] == 0 || (s[n] == '\n' && s[n + 1] == 0));
}

/* kstrtol(buf, 0, &v): base prefix allowed, one trailing newline allowed, nothing else. */
static int kstrtol(const char *s, long *v) {
  if (!*s || *s == ' ' || *s == '\t' || *s == '\n') return -EINVAL;
  char *end;
  errno = 0;
  long r = strtol(s, &end, 0);
  if (end == s || !(end[0] == 0 || (end[0] == '\n' && end[1] == 0))) return -EINVAL;
  if (errno == ERANGE) return -ERANGE;
  *v = r;
  return 0;
}

static void wake_pollers(struct line *l) {
  for (struct fh *h = handles; h; h = h->next)
    if (h->node.line == l && h->node.attr == A_VALUE && h->ph) {
      fuse_notify_poll(h->ph);
      fuse_pollhandle_destroy(h->ph);
      h->ph = NULL;
    }
}

/* The outside world changed an input's level: an edge event if the LOGICAL value crossed the
 * armed edge, as the kernel arms the IRQ on the inverted trigger when active_low is set. */
static void drive_from_outside(struct line *l, int level) {
  int before = logical(l);
  l->ext = level;
  int after = logical(l);
  if (before == after || l->out) return;
  if (!(l->edge & (after ? EDGE_RISING : EDGE_FALLING))) return;
  l->event++;
  wake_pollers(l);
}

static void *fg_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  /* Every read and stat must reach us: the values change behind the kernel's back. */
  cfg->direct_io = 1;
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  return NULL;
}

static int fg_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  struct node nd;
  pthread_mutex_lock(&lock);
  int r = parse(path, &nd);
  pthread_mutex_unlock(&lock);
  if (r) return r;
  memset(st, 0, sizeof *st);
  st->st_atime = st->st_mtime = st->st_ctime = started;
  if (nd.kind == K_ROOT || nd.kind == K_CHIPDIR || nd.kind == K_LINEDIR) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | file_mode(&nd);
    st->st_nlink = 1;
    st->st_size = 4096; /* what sysfs reports for every attribute */
  }
  return 0;
}

static int fg_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  struct node nd;
  pthread_mutex_lock(&lock);
  int r = parse(path, &nd);
  if (!r && nd.kind != K_ROOT && nd.kind != K_CHIPDIR && nd.kind != K_LINEDIR) r = -ENOTDIR;
  if (!r) {
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    char name[32];
    if (nd.kind == K_ROOT) {
      fill(buf, "export", NULL, 0, 0);
      fill(buf, "unexport", NULL, 0, 0);
      for (int i = 0; i < nchips; i++) {
        snprintf(name, sizeof name, "gpiochip%d", chips[i].base);
        fill(buf, name, NULL, 0, 0);
        for (int k = 0; k < chips[i].ngpio; k++)
          if (chips[i].lines[k].exported) {
            snprintf(name, sizeof name, "gpio%d", chips[i].base + k);
            fill(buf, name, NULL, 0, 0);
          }
      }
    } else if (nd.kind == K_CHIPDIR) {
      for (int i = 0; i < 3; i++) fill(buf, chip_attrs[i], NULL, 0, 0);
    } else {
      for (int i = 0; i < 5; i++) fill(buf, line_attrs[i], NULL, 0, 0);
    }
  }
  pthread_mutex_unlock(&lock);
  return r;
}

static int fg_open(const char *path, struct fuse_file_info *fi) {
  struct node nd;
  pthread_mutex_lock(&lock);
  int r = parse(path, &nd);
  if (!r && (nd.kind == K_ROOT || nd.kind == K_CHIPDIR || nd.kind == K_LINEDIR)) r = -EISDIR;
  if (!r) {
    /* kernfs refuses a write open of a file without store() and a read open of one without
     * show(), even for root (whose DAC override passes default_permissions). */
    int acc = fi->flags & O_ACCMODE;
    mode_t m = file_mode(&nd);
    if ((acc != O_RDONLY && !(m & 0200)) || (acc != O_WRONLY && !(m & 0400))) r = -EACCES;
  }
  struct fh *h = NULL;
  if (!r && !(h = calloc(1, sizeof *h))) r = -ENOMEM;
  if (!r) {
    h->node = nd;
    if (nd.line) {
      h->gen = nd.line->gen;
      h->seen = nd.line->event; /* a fresh open has no pending event (kernfs_fop_open) */
    }
    h->next = handles;
    handles = h;
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
  }
  pthread_mutex_unlock(&lock);
  return r;
}

static int fg_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  struct fh *h = (struct fh *)(uintptr_t)fi->fh;
  pthread_mutex_lock(&lock);
  for (struct fh **p = &handles; *p; p = &(*p)->next)
    if (*p == h) {
      *p = h->next;
      break;
    }
  pthread_mutex_unlock(&lock);
  if (h->ph) fuse_pollhandle_destroy(h->ph);
  free(h);
  return 0;
}

static int stale(const struct fh *h) {
  return h->node.line && (!h->node.line->exported || h->node.line->gen != h->gen);
}

static int fg_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  struct fh *h = (struct fh *)(uintptr_t)fi->fh;
  struct line *l = h->node.line;
  struct chip *c = h->node.chip;
  char s[LABELMAX + 2];
  int r = 0;
  pthread_mutex_lock(&lock);
  if (stale(h)) r = -ENODEV;
  else switch (h->node.attr) {
    case A_VALUE:
      snprintf(s, sizeof s, "%d\n", logical(l));
      h->seen = l->event; /* reading value acknowledges the edge, as kernfs_seq_show does */
      break;
    case A_DIRECTION: snprintf(s, sizeof s, "%s\n", l->out ? "out" : "in"); break;
    case A_EDGE: snprintf(s, sizeof s, "%s\n", edge_names[l->edge]); break;
    case A_ACTIVE_LOW: snprintf(s, sizeof s, "%d\n", l->active_low); break;
    case A_LEVEL: snprintf(s, sizeof s, "%d\n", physical(l)); break;
    case A_BASE: snprintf(s, sizeof s, "%d\n", c->base); break;
    case A_LABEL: snprintf(s, sizeof s, "%s\n", c->label); break;
    case A_NGPIO: snprintf(s, sizeof s, "%d\n", c->ngpio); break;
    default: r = -EACCES; /* export/unexport are write-only; fg_open already refused */
  }
  pthread_mutex_unlock(&lock);
  if (r) return r;
  size_t len = strlen(s);
  if (off < 0 || (size_t)off >= len) return 0;
  if (size > len - (size_t)off) size = len - (size_t)off;
  memcpy(buf, s + off, size);
  return (int)size;
}

static int export_line(const char *s, int export) {
  long n;
  int r = kstrtol(s, &n);
  if (r) return r;
  struct line *l = line_of(n, NULL);
  if (!l) return -EINVAL; /* gpio_to_valid_desc: no chip covers it */
  if (export) {
    if (l->busy || l->exported) return -EBUSY; /* gpiod_request on a requested line */
    l->exported = 1;
    l->gen++;
    l->out = 0;
    l->drive = 0;
    l->active_low = 0;
    l->edge = 0;
    trace(l, "export");
  } else {
    if (!l->exported) return -EINVAL;
    trace(l, "unexport");
    l->exported = 0;
    l->gen++;
    l->out = 0;
    l->edge = 0;
  }
  return 0;
}

static int write_line_attr(struct line *l, enum attr attr, const char *s) {
  long v;
  int r;
  switch (attr) {
    case A_VALUE:
      if (!l->out) return -EPERM; /* checked before parsing, as value_store does */
      if ((r = kstrtol(s, &v))) return r;
      l->drive = (v != 0) ^ l->active_low;
      return 0;
    case A_DIRECTION:
      if (sysfs_streq(s, "in")) {
        /* The SoC lets go: the level becomes what the outside drives. No edge can be armed on an
         * output, so this never raises an event. */
        l->out = 0;
        return 0;
      }
      if (!sysfs_streq(s, "high") && !sysfs_streq(s, "low") && !sysfs_streq(s, "out")) return -EINVAL;
      if (l->edge) return -EIO;
      l->out = 1;
      l->drive = sysfs_streq(s, "high"); /* raw: active_low does not apply */
      return 0;
    case A_EDGE:
      for (int e = 0; e < 4; e++)
        if (sysfs_streq(s, edge_names[e])) {
          if (e && e != l->edge && l->out) return -EIO;
          l->edge = e;
          return 0;
        }
      return -EINVAL;
    case A_ACTIVE_LOW:
      if ((r = kstrtol(s, &v))) return r;
      l->active_low = v != 0;
      return 0;
    case A_LEVEL:
      if (!sysfs_streq(s, "0") && !sysfs_streq(s, "1")) return -EINVAL;
      if (l->out) return -EPERM;
      drive_from_outside(l, s[0] == '1');
      return 0;
    default: return -EACCES;
  }
}

static int fg_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  (void)off; /* sysfs hands every write to store() whole, whatever the offset */
  struct fh *h = (struct fh *)(uintptr_t)fi->fh;
  char s[4096];
  copy_input(s, sizeof s, buf, size);
  int r;
  pthread_mutex_lock(&lock);
  if (h->node.kind == K_EXPORT || h->node.kind == K_UNEXPORT) r = export_line(s, h->node.kind == K_EXPORT);
  else if (stale(h)) r = -ENODEV;
  else if (h->node.kind == K_LINEATTR) {
    r = write_line_attr(h->node.line, h->node.attr, s);
    if (!r) trace(h->node.line, line_attrs[h->node.attr]);
  } else r = -EACCES;
  pthread_mutex_unlock(&lock);
  return r ? r : (int)size;
}

/* O_TRUNC (echo 1 > value) must succeed on attributes, as it does on sysfs. */
static int fg_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  (void)size;
  (void)fi;
  struct node nd;
  pthread_mutex_lock(&lock);
  int r = parse(path, &nd);
  pthread_mutex_unlock(&lock);
  if (r) return r;
  return nd.kind == K_ROOT || nd.kind == K_CHIPDIR || nd.kind == K_LINEDIR ? -EISDIR : 0;
}

static int fg_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph, unsigned *revents) {
  (void)path;
  struct fh *h = (struct fh *)(uintptr_t)fi->fh;
  unsigned r = DEFAULT_POLLMASK;
  pthread_mutex_lock(&lock);
  if (stale(h)) r |= POLLERR | POLLPRI;
  else if (h->node.attr == A_VALUE) {
    if (ph) {
      /* Keep the newest handle: it is the one the kernel waits on. */
      if (h->ph) fuse_pollhandle_destroy(h->ph);
      h->ph = ph;
      ph = NULL;
    }
    if (h->seen != h->node.line->event) r |= POLLERR | POLLPRI;
  }
  pthread_mutex_unlock(&lock);
  if (ph) fuse_pollhandle_destroy(ph);
  *revents = r;
  return 0;
}

static const struct fuse_operations ops = {
    .init = fg_init,
    .getattr = fg_getattr,
    .readdir = fg_readdir,
    .open = fg_open,
    .release = fg_release,
    .read = fg_read,
    .write = fg_write,
    .truncate = fg_truncate,
    .poll = fg_poll,
};

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fakegpiofs: %s: %s\n", what, detail);
  exit(2);
}

static long parse_config_int(const char *var, const char *s, const char **end, long min, long max) {
  char *e;
  errno = 0;
  long v = strtol(s, &e, 10);
  if (e == s || errno || v < min || v > max) die(var, s);
  *end = e;
  return v;
}

static void parse_chips(const char *spec) {
  const char *var = "FAKEGPIO_CHIPS (want base:ngpio:label,...)";
  const char *p = spec;
  while (*p) {
    if (nchips == MAXCHIPS) die(var, "too many chips");
    struct chip *c = &chips[nchips];
    const char *e;
    c->base = (int)parse_config_int(var, p, &e, 0, INT_MAX - MAXNGPIO);
    if (*e != ':') die(var, p);
    c->ngpio = (int)parse_config_int(var, e + 1, &e, 1, MAXNGPIO);
    if (*e != ':') die(var, p);
    size_t n = strcspn(e + 1, ",");
    if (n == 0 || n >= LABELMAX) die(var, "label empty or longer than 63 characters");
    memcpy(c->label, e + 1, n);
    c->label[n] = 0;
    for (int i = 0; i < nchips; i++)
      if (c->base < chips[i].base + chips[i].ngpio && chips[i].base < c->base + c->ngpio)
        die(var, "chips overlap");
    if (!(c->lines = calloc((size_t)c->ngpio, sizeof *c->lines))) die(var, "out of memory");
    for (int i = 0; i < c->ngpio; i++) c->lines[i].num = (long)c->base + i;
    nchips++;
    p = e + 1 + n;
    if (*p == ',') p++;
  }
  if (!nchips) die(var, "no chip");
}

/* Marks each listed line: sets busy (FAKEGPIO_BUSY) or a high outside level (FAKEGPIO_HIGH). */
static void parse_lines(const char *var, const char *spec, int busy) {
  const char *p = spec;
  while (*p) {
    const char *e;
    long n = parse_config_int(var, p, &e, 0, INT_MAX);
    struct line *l = line_of(n, NULL);
    if (!l) die(var, "a line that no chip of FAKEGPIO_CHIPS covers");
    if (busy) l->busy = 1;
    else l->ext = 1;
    if (*e != ',' && *e) die(var, p);
    p = *e ? e + 1 : e;
  }
}

int main(int argc, char *argv[]) {
  const char *chip_spec = getenv("FAKEGPIO_CHIPS");
  const char *busy_spec = getenv("FAKEGPIO_BUSY");
  const char *high_spec = getenv("FAKEGPIO_HIGH");
  if (!busy_spec) busy_spec = chip_spec ? "" : "554,572,574,576";
  parse_chips(chip_spec ? chip_spec : "512:58:pinctrl-bcm2711,570:8:raspberrypi-exp-gpio");
  parse_lines("FAKEGPIO_BUSY", busy_spec, 1);
  parse_lines("FAKEGPIO_HIGH", high_spec ? high_spec : "", 0);
  const char *trace_path = getenv("FAKEGPIO_TRACE");
  if (trace_path && *trace_path) {
    if (!(trace_file = fopen(trace_path, "a"))) die("FAKEGPIO_TRACE", trace_path);
    setvbuf(trace_file, NULL, _IOLBF, 0); /* a line per write, readable at once */
  }
  started = time(NULL);
  return fuse_main(argc, argv, &ops, NULL);
}
