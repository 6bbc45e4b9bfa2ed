/*
 * User-space link impairment for the network-namespace tests: this kernel has no `netem` qdisc, so loss and delay
 * are applied here. The forwarder creates two tun devices (IFF_TUN | IFF_NO_PI, not persistent: they vanish when
 * this process exits) and copies every IP packet read from one to the other:
 *
 *   host stack <-> tun A <-> [drop with probability p, hold for D ms] <-> tun B <-> namespace stack
 *
 * (the test moves tun B into the namespace). Usage: netem-forwarder TUN_A TUN_B SEED
 *
 * Commands on standard input, one a line:
 *   set LOSS_PERCENT DELAY_MS   loss and one-way delay, the same in both directions (round trip: 2 x DELAY_MS)
 *   stats                       prints "stats A2B_FWD A2B_DROP B2A_FWD B2A_DROP"
 * Standard input closing (the test process ended, however) ends the forwarder, and with it both devices.
 * Prints "ready" once both devices exist.
 *
 * Each direction is a FIFO of packets with their due time; a packet is written when due. A full queue drops the
 * packet (tail drop, as a router's buffer would). A write that fails (the device is down) drops it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096
#define MAX_PACKET 2048

struct slot {
  uint64_t due_us;
  int len;
  unsigned char data[MAX_PACKET];
};

struct direction {
  int in, out;
  struct slot *ring;
  int head, count;
  uint64_t forwarded, dropped;
};

static double loss = 0.0; /* probability 0..1 */
static uint64_t delay_us = 0;
static uint64_t rng_state;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: reproducible from the seed, plenty for a drop decision. */
static double uniform(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    exit(1);
  }
  return fd;
}

static void flush_due(struct direction *d, uint64_t now) {
  while (d->count > 0) {
    struct slot *s = &d->ring[d->head];
    if (s->due_us > now) break;
    if (write(d->out, s->data, (size_t)s->len) == s->len) d->forwarded++;
    else d->dropped++;
    d->head = (d->head + 1) % SLOTS;
    d->count--;
  }
}

static void pump(struct direction *d) {
  unsigned char buf[MAX_PACKET];
  for (int i = 0; i < 256; i++) {
    ssize_t n = read(d->in, buf, sizeof buf);
    if (n <= 0) return; /* EAGAIN, or EIO while the device is down */
    if (loss > 0 && uniform() < loss) {
      d->dropped++;
      continue;
    }
    if (delay_us == 0 && d->count == 0) {
      if (write(d->out, buf, (size_t)n) == n) d->forwarded++;
      else d->dropped++;
      continue;
    }
    if (d->count == SLOTS) {
      d->dropped++;
      continue;
    }
    struct slot *s = &d->ring[(d->head + d->count) % SLOTS];
    uint64_t due = now_us() + delay_us;
    /* FIFO: never due before the packet ahead of it (a lowered delay must not reorder). */
    if (d->count > 0) {
      uint64_t prev = d->ring[(d->head + d->count - 1) % SLOTS].due_us;
      if (due < prev) due = prev;
    }
    s->due_us = due;
    s->len = (int)n;
    memcpy(s->data, buf, (size_t)n);
    d->count++;
  }
}

static int command(struct direction *a2b, struct direction *b2a) {
  static char line[256];
  static size_t used = 0;
  ssize_t n = read(0, line + used, sizeof line - 1 - used);
  if (n <= 0) return 0;
  used += (size_t)n;
  line[used] = 0;
  char *nl;
  while ((nl = strchr(line, '\n')) != NULL) {
    *nl = 0;
    double l, ms;
    if (sscanf(line, "set %lf %lf", &l, &ms) == 2 && l >= 0 && l <= 100 && ms >= 0) {
      loss = l / 100.0;
      delay_us = (uint64_t)(ms * 1000.0);
      printf("ok\n");
    } else if (strcmp(line, "stats") == 0) {
      printf("stats %llu %llu %llu %llu\n", (unsigned long long)a2b->forwarded, (unsigned long long)a2b->dropped,
             (unsigned long long)b2a->forwarded, (unsigned long long)b2a->dropped);
    } else {
      printf("error unknown command\n");
    }
    fflush(stdout);
    size_t rest = used - (size_t)(nl + 1 - line);
    memmove(line, nl + 1, rest);
    used = rest;
    line[used] = 0;
  }
  if (used == sizeof line - 1) used = 0; /* an over-long line: discard */
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s TUN_A TUN_B SEED\n", argv[0]);
    return 2;
  }
  rng_state = strtoull(argv[3], NULL, 10) | 1;
  int a = open_tun(argv[1]), b = open_tun(argv[2]);
  struct direction a2b = {a, b, calloc(SLOTS, sizeof(struct slot)), 0, 0, 0, 0};
  struct direction b2a = {b, a, calloc(SLOTS, sizeof(struct slot)), 0, 0, 0, 0};
  if (!a2b.ring || !b2a.ring) return 1;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int timeout = -1;
    uint64_t now = now_us();
    struct direction *ds[2] = {&a2b, &b2a};
    for (int i = 0; i < 2; i++) {
      if (ds[i]->count == 0) continue;
      uint64_t due = ds[i]->ring[ds[i]->head].due_us;
      int ms = due <= now ? 0 : (int)((due - now + 999) / 1000);
      if (timeout < 0 || ms < timeout) timeout = ms;
    }
    struct pollfd p[3] = {{0, POLLIN, 0}, {a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(p, 3, timeout) < 0 && errno != EINTR) return 1;
    if (p[0].revents & (POLLIN | POLLHUP)) {
      if (!command(&a2b, &b2a)) return 0;
    }
    if (p[1].revents & POLLIN) pump(&a2b);
    if (p[2].revents & POLLIN) pump(&b2a);
    now = now_us();
    flush_due(&a2b, now);
    flush_due(&b2a, now);
  }
}
