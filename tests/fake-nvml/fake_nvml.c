/*
 * fake_nvml.c: a test double for the NVIDIA Management Library (libnvidia-ml.so.1).
 *
 * It exports the NVML entry points ergon-hwctl uses and simulates GPUs, so that clock and power
 * control can be tested on machines without a GPU. Build it as a shared library whose soname is
 * the real one, then point ERGON_NVML_LIBRARY (or LD_LIBRARY_PATH) at it:
 *
 *     cc -shared -fPIC -O1 -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.1 fake_nvml.c -lpthread -lm
 *
 * Compiled with -DFAKE_NVML_OLD_DRIVER it leaves out the symbols that old drivers lack
 * (nvmlDeviceSetMemoryLockedClocks, nvmlDeviceResetMemoryLockedClocks,
 * nvmlDeviceGetCurrentClocksEventReasons), to test "not supported by this driver" paths.
 *
 * Behaviour is driven by environment variables, read once per process at the first call:
 *
 *   FAKE_NVML_DEVICES=N          number of GPUs (default 1, at most 16)
 *   FAKE_NVML_ARCH=a[,b,...]     architecture per GPU (the last one repeats): kepler, maxwell,
 *                                pascal, volta, turing, ampere (default), ada, hopper, blackwell
 *   FAKE_NVML_ROOT=0|1           0: every setter returns NVML_ERROR_NO_PERMISSION (default 1)
 *   FAKE_NVML_UNSUPPORTED=f[,g]  these functions return NVML_ERROR_NOT_SUPPORTED
 *   FAKE_NVML_FAULT_AT=N:code[,M:code]
 *                                the N-th NVML call of the process (1-based, every exported
 *                                function counts) returns `code` (a number, or a name such as
 *                                GPU_IS_LOST or NVML_ERROR_GPU_IS_LOST) without doing anything
 *   FAKE_NVML_POWER_W=W          power draw of every GPU (default 100; capped by the power limit);
 *                                the energy counter advances with CLOCK_MONOTONIC at this power
 *   FAKE_NVML_ENERGY_PERIOD_MS=P the energy counter only changes every P ms (default 0: always)
 *   FAKE_NVML_IDLE_W=I           turns on the power model below: an idle GPU draws I watts, a GPU
 *                                inside fakeNvmlRun draws P(f) (unset: FAKE_NVML_POWER_W always)
 *   FAKE_NVML_POWER_EXP=k        exponent of the power model (default 2.0)
 *   FAKE_NVML_MEMORY_BOUND=m     memory-bound fraction of a computation (default 0.3)
 *   FAKE_NVML_SET_DELAY_MS=D     every setter (Set..., Reset...) first sleeps D ms, outside the lock, as
 *                                real setters take 10-20 ms (default 0; read at every call)
 *   FAKE_NVML_MIG=i:n[,j:m]      GPU i has MIG mode on with n MIG devices (Ampere and newer)
 *   FAKE_NVML_LOG=path           append one line per call: "name arg=value ... -> RESULT"
 *   FAKE_NVML_STATE=path         per-GPU settings (locked clocks, power limit, persistence) are
 *                                loaded from this file at start (if it exists; written with the
 *                                defaults otherwise) and rewritten after every change, one line
 *                                per GPU:
 *                                gpu=0 gpu_locked=none mem_locked=1215:1215 power_limit_mw=250000 persistence=0
 *
 * Settings also live in memory for the life of the process. Everything is serialized by one mutex.
 * nvmlErrorString is neither counted nor logged (it cannot fail).
 *
 * Power model (FAKE_NVML_IDLE_W set). At graphics clock f (the locked clock clamped to the
 * supported range, or the maximum graphics clock f_max when unlocked), a busy GPU draws
 *
 *     P(f) = P_idle + (P_max - P_idle) * (f / f_max)^k     P_max = FAKE_NVML_POWER_W, k = POWER_EXP
 *
 * (every power capped by the power limit, as without the model), and a computation that takes
 * t0 seconds at f_max takes
 *
 *     t(f) = t0 * (m + (1 - m) * f_max / f)                m = FAKE_NVML_MEMORY_BOUND
 *
 * The energy counter integrates the power exactly over idle and busy segments (microsecond
 * resolution; with FAKE_NVML_ENERGY_PERIOD_MS, only up to the counter's update period), and
 * nvmlDeviceGetPowerUsage reports the power of the moment. Test harnesses drive it through
 * three exported functions that are not NVML's (neither counted for FAKE_NVML_FAULT_AT nor
 * subject to FAKE_NVML_UNSUPPORTED; fakeNvmlRun is logged as
 * "fakeNvmlRun dev=I mhz=F busy_s=T -> SUCCESS"):
 *
 *   int fakeNvmlRun(unsigned index, double seconds_at_max)
 *       the computation: marks GPU `index` busy, sleeps t(f) with f read once at the start
 *       (without holding the mutex), marks it idle (overlapping calls on one GPU: busy until
 *       the last ends, at the power of the latest start); returns 0, or NVML_ERROR_INVALID_ARGUMENT
 *       (2) for a GPU that does not exist or a negative or non-finite duration. Without
 *       FAKE_NVML_IDLE_W the GPU draws FAKE_NVML_POWER_W throughout, as always.
 *   double fakeNvmlBusyPowerW(unsigned index, unsigned freq_mhz)
 *       P(freq_mhz) of GPU `index` in W under its current power limit (FAKE_NVML_POWER_W
 *       capped by the limit without the model); -1 for a GPU that does not exist.
 *   double fakeNvmlBusySeconds(unsigned index, unsigned freq_mhz, double seconds_at_max)
 *       t(freq_mhz) for a computation of seconds_at_max at f_max (seconds_at_max itself without
 *       the model); -1 for a GPU that does not exist.
 *
 * so that harnesses compute the model's predictions with the fake's own formula.
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef unsigned int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
};

static const struct {
    unsigned code;
    const char *name;
    const char *text;
} RETURN_NAMES[] = {
    {0, "SUCCESS", "Success"},
    {1, "UNINITIALIZED", "Uninitialized"},
    {2, "INVALID_ARGUMENT", "Invalid Argument"},
    {3, "NOT_SUPPORTED", "Not Supported"},
    {4, "NO_PERMISSION", "Insufficient Permissions"},
    {5, "ALREADY_INITIALIZED", "Already Initialized"},
    {6, "NOT_FOUND", "Not Found"},
    {7, "INSUFFICIENT_SIZE", "Insufficient Size"},
    {8, "INSUFFICIENT_POWER", "Insufficient External Power"},
    {9, "DRIVER_NOT_LOADED", "Driver Not Loaded"},
    {10, "TIMEOUT", "Timeout"},
    {11, "IRQ_ISSUE", "Interrupt Request Issue"},
    {12, "LIBRARY_NOT_FOUND", "NVML Shared Library Not Found"},
    {13, "FUNCTION_NOT_FOUND", "Function Not Found"},
    {14, "CORRUPTED_INFOROM", "Corrupted infoROM"},
    {15, "GPU_IS_LOST", "GPU is lost"},
    {16, "RESET_REQUIRED", "GPU requires restart"},
    {17, "OPERATING_SYSTEM", "The operating system has blocked the request"},
    {18, "LIB_RM_VERSION_MISMATCH", "RM has detected an NVML/RM version mismatch"},
    {19, "IN_USE", "In use by another client"},
    {20, "MEMORY", "Insufficient Memory"},
    {21, "NO_DATA", "No data"},
    {22, "VGPU_ECC_NOT_SUPPORTED", "ECC is enabled"},
    {23, "INSUFFICIENT_RESOURCES", "Insufficient resources"},
    {24, "FREQ_NOT_SUPPORTED", "Frequency not supported"},
    {25, "ARGUMENT_VERSION_MISMATCH", "Argument version mismatch"},
    {26, "DEPRECATED", "Deprecated"},
    {27, "NOT_READY", "Not ready"},
    {999, "UNKNOWN", "Unknown Error"},
};
#define N_RETURN_NAMES (sizeof RETURN_NAMES / sizeof RETURN_NAMES[0])

/* ------------------------------------------------------------------------------------------ */
/* Architectures                                                                               */

struct arch_profile {
    const char *key;
    unsigned arch; /* nvmlDeviceArchitecture_t */
    const char *name;
    unsigned mem_clocks[4]; /* descending; 0-terminated */
    unsigned gfx_max, gfx_min, gfx_step;
    unsigned pl_min_w, pl_max_w, pl_default_w;
};

static const struct arch_profile ARCHES[] = {
    {"kepler", 2, "Tesla K80", {2505}, 875, 562, 13, 100, 149, 149},
    {"maxwell", 3, "Tesla M40", {3004}, 1114, 532, 13, 180, 250, 250},
    {"pascal", 4, "Tesla P100-PCIE-16GB", {715}, 1328, 544, 12, 125, 250, 250},
    {"volta", 5, "Tesla V100-SXM2-32GB", {877}, 1530, 135, 15, 150, 300, 300},
    {"turing", 6, "Tesla T4", {5001, 405}, 1590, 300, 15, 60, 70, 70},
    {"ampere", 7, "NVIDIA A100-SXM4-40GB", {1215}, 1410, 210, 15, 100, 400, 400},
    {"ada", 8, "NVIDIA L40S", {9001, 5001, 810, 405}, 2520, 210, 15, 100, 350, 350},
    {"hopper", 9, "NVIDIA H100 80GB HBM3", {2619}, 1980, 345, 15, 200, 700, 700},
    {"blackwell", 10, "NVIDIA B200", {3996}, 1965, 120, 15, 200, 1000, 1000},
};
#define N_ARCHES (sizeof ARCHES / sizeof ARCHES[0])
#define ARCH_VOLTA 5
#define ARCH_AMPERE 7

/* ------------------------------------------------------------------------------------------ */
/* Simulated devices                                                                           */

#define MAX_DEVICES 16
#define MAX_MIG 7

struct fake_device {
    int index;     /* NVML index of the GPU (the parent's for a MIG device) */
    int mig_index; /* -1 for a full GPU */
    struct fake_device *parent;
    const struct arch_profile *arch;
    char uuid[96];
    char name[96];
    char pci_bus_id[32];
    unsigned pci_bus;
    /* settings */
    int gpu_locked;
    unsigned gpu_locked_min, gpu_locked_max;
    int mem_locked;
    unsigned mem_locked_min, mem_locked_max;
    unsigned power_limit_mw;
    int persistence;
    /* MIG */
    int mig_mode;
    int n_mig;
    struct fake_device *migs;
    /* energy: the integral in uJ up to energy_at_us (CLOCK_MONOTONIC, microseconds) */
    unsigned long long energy_uj;
    unsigned long long energy_at_us;
    /* power model: computations running (fakeNvmlRun calls), drawing busy_mw while any is */
    int busy;
    unsigned busy_mw;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int configured;
static int init_count;
static unsigned long long call_count;

static int n_devices = 1;
static struct fake_device devices[MAX_DEVICES];
static struct fake_device mig_devices[MAX_DEVICES][MAX_MIG];
static int is_root = 1;
static unsigned power_w = 100;
static unsigned long long energy_period_ms;
/* Power model (FAKE_NVML_IDLE_W): off unless has_idle. */
static int has_idle;
static double idle_w;
static double power_exp = 2.0;
static double memory_bound = 0.3;
static char unsupported[4096];
static char log_path[4096];
static char state_path[4096];

#define MAX_FAULTS 64
static struct {
    unsigned long long at;
    unsigned code;
} faults[MAX_FAULTS];
static int n_faults;

static unsigned long long monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

static const struct arch_profile *find_arch(const char *key, size_t len)
{
    for (size_t i = 0; i < N_ARCHES; i++)
        if (strlen(ARCHES[i].key) == len && strncasecmp(ARCHES[i].key, key, len) == 0)
            return &ARCHES[i];
    return NULL;
}

static unsigned parse_code(const char *text)
{
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (end != text && *end == '\0')
        return (unsigned)value;
    if (strncmp(text, "NVML_ERROR_", 11) == 0)
        text += 11;
    for (size_t i = 0; i < N_RETURN_NAMES; i++)
        if (strcmp(RETURN_NAMES[i].name, text) == 0)
            return RETURN_NAMES[i].code;
    return NVML_ERROR_UNKNOWN;
}

static const char *code_name(unsigned code)
{
    for (size_t i = 0; i < N_RETURN_NAMES; i++)
        if (RETURN_NAMES[i].code == code)
            return RETURN_NAMES[i].name;
    return "UNKNOWN_CODE";
}

static void copy_env(const char *var, char *out, size_t size)
{
    const char *value = getenv(var);
    out[0] = '\0';
    if (value)
        snprintf(out, size, "%s", value);
}

static unsigned cap_mw(const struct fake_device *d, unsigned mw)
{
    return mw < d->power_limit_mw ? mw : d->power_limit_mw;
}

/* The graphics clock a computation runs at: the locked clock clamped to the supported range, or
 * the maximum when unlocked (the symbolic TDP/UNLIMITED values exceed the maximum). */
static unsigned effective_clock_mhz(const struct fake_device *d, unsigned locked_mhz, int locked)
{
    const struct arch_profile *a = d->arch;
    unsigned f = locked ? locked_mhz : a->gfx_max;
    if (f > a->gfx_max)
        f = a->gfx_max;
    if (f < a->gfx_min)
        f = a->gfx_min;
    return f;
}

/* P(f) in mW (see the header comment), before the power-limit cap. */
static double model_busy_mw(const struct fake_device *d, unsigned freq_mhz)
{
    if (!has_idle)
        return power_w * 1000.0;
    double f = effective_clock_mhz(d, freq_mhz, 1), f_max = d->arch->gfx_max;
    return idle_w * 1000.0 + (power_w - idle_w) * 1000.0 * pow(f / f_max, power_exp);
}

/* t(f) in seconds (see the header comment). */
static double model_busy_s(const struct fake_device *d, unsigned freq_mhz, double seconds_at_max)
{
    if (!has_idle)
        return seconds_at_max;
    double f = effective_clock_mhz(d, freq_mhz, 1), f_max = d->arch->gfx_max;
    return seconds_at_max * (memory_bound + (1.0 - memory_bound) * f_max / f);
}

static unsigned current_power_mw(const struct fake_device *d)
{
    if (!has_idle)
        return cap_mw(d, power_w * 1000U);
    return cap_mw(d, d->busy ? d->busy_mw : (unsigned)(idle_w * 1000.0 + 0.5));
}

/* Brings the energy counter up to now at the current power. */
static void advance_energy(struct fake_device *d)
{
    unsigned long long now = monotonic_us();
    if (energy_period_ms)
        now -= now % (energy_period_ms * 1000ULL);
    if (now > d->energy_at_us) {
        /* mW x us = nJ; the remainder below 1 uJ is dropped (less than 1 mJ a second at the
         * usual read rates). */
        d->energy_uj += (unsigned long long)current_power_mw(d) * (now - d->energy_at_us) / 1000ULL;
        d->energy_at_us = now;
    }
}

static void reset_settings(struct fake_device *d)
{
    d->gpu_locked = 0;
    d->gpu_locked_min = d->gpu_locked_max = 0;
    d->mem_locked = 0;
    d->mem_locked_min = d->mem_locked_max = 0;
    d->power_limit_mw = d->arch->pl_default_w * 1000U;
    d->persistence = 0;
}

static void save_state(void)
{
    if (!state_path[0])
        return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", state_path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    for (int i = 0; i < n_devices; i++) {
        struct fake_device *d = &devices[i];
        fprintf(f, "gpu=%d gpu_locked=", i);
        if (d->gpu_locked)
            fprintf(f, "%u:%u", d->gpu_locked_min, d->gpu_locked_max);
        else
            fprintf(f, "none");
        fprintf(f, " mem_locked=");
        if (d->mem_locked)
            fprintf(f, "%u:%u", d->mem_locked_min, d->mem_locked_max);
        else
            fprintf(f, "none");
        fprintf(f, " power_limit_mw=%u persistence=%d\n", d->power_limit_mw, d->persistence);
    }
    fclose(f);
    rename(tmp, state_path);
}

static void parse_lock(const char *value, int *locked, unsigned *min, unsigned *max)
{
    unsigned a, b;
    if (sscanf(value, "%u:%u", &a, &b) == 2) {
        *locked = 1;
        *min = a;
        *max = b;
    } else {
        *locked = 0;
        *min = *max = 0;
    }
}

static void load_state(void)
{
    if (!state_path[0])
        return;
    FILE *f = fopen(state_path, "r");
    if (!f) {
        save_state();
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        int gpu = -1;
        if (sscanf(line, "gpu=%d", &gpu) != 1 || gpu < 0 || gpu >= n_devices)
            continue;
        struct fake_device *d = &devices[gpu];
        char *save = NULL;
        for (char *tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq)
                continue;
            *eq = '\0';
            const char *value = eq + 1;
            if (strcmp(tok, "gpu_locked") == 0)
                parse_lock(value, &d->gpu_locked, &d->gpu_locked_min, &d->gpu_locked_max);
            else if (strcmp(tok, "mem_locked") == 0)
                parse_lock(value, &d->mem_locked, &d->mem_locked_min, &d->mem_locked_max);
            else if (strcmp(tok, "power_limit_mw") == 0)
                d->power_limit_mw = (unsigned)strtoul(value, NULL, 10);
            else if (strcmp(tok, "persistence") == 0)
                d->persistence = atoi(value) != 0;
        }
    }
    fclose(f);
}

static void configure(void)
{
    const char *value;

    value = getenv("FAKE_NVML_DEVICES");
    if (value) {
        n_devices = atoi(value);
        if (n_devices < 0)
            n_devices = 0;
        if (n_devices > MAX_DEVICES)
            n_devices = MAX_DEVICES;
    }
    value = getenv("FAKE_NVML_ROOT");
    if (value)
        is_root = atoi(value) != 0;
    value = getenv("FAKE_NVML_POWER_W");
    if (value)
        power_w = (unsigned)strtoul(value, NULL, 10);
    value = getenv("FAKE_NVML_ENERGY_PERIOD_MS");
    if (value)
        energy_period_ms = strtoull(value, NULL, 10);
    value = getenv("FAKE_NVML_IDLE_W");
    if (value && *value) {
        has_idle = 1;
        idle_w = strtod(value, NULL);
        if (!(idle_w >= 0.0))
            idle_w = 0.0;
    }
    value = getenv("FAKE_NVML_POWER_EXP");
    if (value && *value)
        power_exp = strtod(value, NULL);
    value = getenv("FAKE_NVML_MEMORY_BOUND");
    if (value && *value) {
        memory_bound = strtod(value, NULL);
        if (!(memory_bound >= 0.0 && memory_bound <= 1.0))
            memory_bound = 0.3;
    }
    copy_env("FAKE_NVML_UNSUPPORTED", unsupported, sizeof unsupported);
    copy_env("FAKE_NVML_LOG", log_path, sizeof log_path);
    copy_env("FAKE_NVML_STATE", state_path, sizeof state_path);

    value = getenv("FAKE_NVML_FAULT_AT");
    if (value) {
        char spec[4096];
        snprintf(spec, sizeof spec, "%s", value);
        char *save = NULL;
        for (char *tok = strtok_r(spec, ",", &save); tok && n_faults < MAX_FAULTS;
             tok = strtok_r(NULL, ",", &save)) {
            char *colon = strchr(tok, ':');
            if (!colon)
                continue;
            *colon = '\0';
            faults[n_faults].at = strtoull(tok, NULL, 10);
            faults[n_faults].code = parse_code(colon + 1);
            n_faults++;
        }
    }

    /* Architectures: comma list, the last entry repeats. */
    const char *arches = getenv("FAKE_NVML_ARCH");
    const struct arch_profile *arch = find_arch("ampere", 6);
    const char *cursor = arches;
    for (int i = 0; i < n_devices; i++) {
        if (cursor && *cursor) {
            size_t len = strcspn(cursor, ",");
            const struct arch_profile *found = find_arch(cursor, len);
            if (found)
                arch = found;
            cursor += len;
            if (*cursor == ',')
                cursor++;
        }
        struct fake_device *d = &devices[i];
        memset(d, 0, sizeof *d);
        d->index = i;
        d->mig_index = -1;
        d->arch = arch;
        d->pci_bus = 0x07 + (unsigned)i;
        snprintf(d->uuid, sizeof d->uuid, "GPU-%08x-5a6b-4c3d-8e9f-0123456789ab", 0xf0000000U + (unsigned)i);
        snprintf(d->name, sizeof d->name, "%s", arch->name);
        snprintf(d->pci_bus_id, sizeof d->pci_bus_id, "00000000:%02X:00.0", d->pci_bus);
        reset_settings(d);
    }

    /* MIG: "i:n" pairs. */
    value = getenv("FAKE_NVML_MIG");
    if (value) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", value);
        char *save = NULL;
        for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int gpu, count;
            if (sscanf(tok, "%d:%d", &gpu, &count) != 2 || gpu < 0 || gpu >= n_devices)
                continue;
            struct fake_device *d = &devices[gpu];
            if (d->arch->arch < ARCH_AMPERE)
                continue;
            if (count < 0)
                count = 0;
            if (count > MAX_MIG)
                count = MAX_MIG;
            d->mig_mode = 1;
            d->n_mig = count;
            d->migs = mig_devices[gpu];
            for (int m = 0; m < count; m++) {
                struct fake_device *mig = &mig_devices[gpu][m];
                *mig = *d;
                mig->mig_index = m;
                mig->parent = d;
                mig->n_mig = 0;
                mig->migs = NULL;
                snprintf(mig->uuid, sizeof mig->uuid, "MIG-%08x-7c6d-4e5f-9a0b-0123456789ab",
                         0xe0000000U + (unsigned)gpu * 16U + (unsigned)m);
                snprintf(mig->name, sizeof mig->name, "%s MIG 1g.5gb", d->arch->name);
            }
        }
    }

    unsigned long long now = monotonic_us();
    if (energy_period_ms)
        now -= now % (energy_period_ms * 1000ULL);
    load_state();
    for (int i = 0; i < n_devices; i++) {
        /* As if the GPU had drawn its power since boot: the counter is monotonic across
         * processes too. mW x ms = uJ, split so that long uptimes do not overflow. */
        unsigned long long mw = current_power_mw(&devices[i]);
        devices[i].energy_at_us = now;
        devices[i].energy_uj = mw * (now / 1000ULL) + mw * (now % 1000ULL) / 1000ULL;
    }
    configured = 1;
}

static int is_unsupported(const char *name)
{
    size_t len = strlen(name);
    const char *p = unsupported;
    while (*p) {
        size_t tok = strcspn(p, ",");
        while (tok > 0 && isspace((unsigned char)*p)) {
            p++;
            tok--;
        }
        size_t trimmed = tok;
        while (trimmed > 0 && isspace((unsigned char)p[trimmed - 1]))
            trimmed--;
        if (trimmed == len && strncmp(p, name, len) == 0)
            return 1;
        p += tok;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Call bookkeeping                                                                            */

struct call {
    const char *name;
    char args[512];
};

/* Locks the mutex, counts and describes the call. Returns the code to return at once (a fault,
 * NOT_SUPPORTED, UNINITIALIZED), or SUCCESS to run the body. */
static nvmlReturn_t begin(struct call *c, int needs_init, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static nvmlReturn_t begin(struct call *c, int needs_init, const char *name, const char *fmt, ...)
{
    pthread_mutex_lock(&lock);
    if (!configured)
        configure();
    c->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->args, sizeof c->args, fmt, ap);
    va_end(ap);
    call_count++;
    for (int i = 0; i < n_faults; i++)
        if (faults[i].at == call_count)
            return faults[i].code;
    if (is_unsupported(name))
        return NVML_ERROR_NOT_SUPPORTED;
    if (needs_init && init_count == 0)
        return NVML_ERROR_UNINITIALIZED;
    return NVML_SUCCESS;
}

/* Logs the call with its result and unlocks. */
static nvmlReturn_t end(struct call *c, nvmlReturn_t rc)
{
    if (log_path[0]) {
        FILE *f = fopen(log_path, "a");
        if (f) {
            if (c->args[0])
                fprintf(f, "%s %s -> %s\n", c->name, c->args, code_name(rc));
            else
                fprintf(f, "%s -> %s\n", c->name, code_name(rc));
            fclose(f);
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* A handle this library gave out (full GPU or MIG device)? */
static int valid_device(nvmlDevice_t d)
{
    if (!d)
        return 0;
    for (int i = 0; i < n_devices; i++) {
        if (d == &devices[i])
            return 1;
        for (int m = 0; m < devices[i].n_mig; m++)
            if (d == &devices[i].migs[m])
                return 1;
    }
    return 0;
}

static const char *dev_label(nvmlDevice_t d, char *buf, size_t size)
{
    if (!valid_device(d))
        snprintf(buf, size, "%s", d ? "invalid" : "null");
    else if (d->mig_index >= 0)
        snprintf(buf, size, "%d/mig%d", d->index, d->mig_index);
    else
        snprintf(buf, size, "%d", d->index);
    return buf;
}

#define DEV(d) dev_label((d), label, sizeof label)

/* Runs `body` (which sets rc) unless begin() decided otherwise. */
#define CALL(needs_init, fname, body, ...)                                                         \
    do {                                                                                           \
        struct call c_;                                                                            \
        char label[32];                                                                            \
        (void)label;                                                                               \
        nvmlReturn_t rc = begin(&c_, (needs_init), (fname), __VA_ARGS__);                          \
        if (rc == NVML_SUCCESS) {                                                                  \
            body                                                                                   \
        }                                                                                          \
        return end(&c_, rc);                                                                       \
    } while (0)

/* Device-call prologue inside a body: invalid handle -> INVALID_ARGUMENT. */
#define REQUIRE_DEVICE(d)                                                                          \
    if (!valid_device(d)) {                                                                        \
        rc = NVML_ERROR_INVALID_ARGUMENT;                                                          \
        break;                                                                                     \
    }

/* Setter prologue: full GPU only, needs root. */
#define REQUIRE_SETTER(d)                                                                          \
    REQUIRE_DEVICE(d)                                                                              \
    if ((d)->mig_index >= 0) {                                                                     \
        rc = NVML_ERROR_NOT_SUPPORTED;                                                             \
        break;                                                                                     \
    }

#define REQUIRE_ROOT()                                                                             \
    if (!is_root) {                                                                                \
        rc = NVML_ERROR_NO_PERMISSION;                                                             \
        break;                                                                                     \
    }

/* Bodies are wrapped in do { } while (0) so that the REQUIRE_ macros can `break` out. */
#define BODY(...) do { __VA_ARGS__ } while (0);

/* ------------------------------------------------------------------------------------------ */
/* Library                                                                                     */

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    CALL(0, "nvmlInit_v2", BODY(init_count++;), "%s", "");
}

EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    CALL(0, "nvmlInitWithFlags", BODY(init_count++;), "flags=%u", flags);
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    CALL(0, "nvmlShutdown", BODY(if (init_count == 0) rc = NVML_ERROR_UNINITIALIZED; else init_count--;),
         "%s", "");
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    for (size_t i = 0; i < N_RETURN_NAMES; i++)
        if (RETURN_NAMES[i].code == result)
            return RETURN_NAMES[i].text;
    return "Unknown Error";
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    CALL(1, "nvmlSystemGetDriverVersion", BODY(
        const char *v = "555.42.06-fake";
        if (!version) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (length < strlen(v) + 1) { rc = NVML_ERROR_INSUFFICIENT_SIZE; break; }
        memcpy(version, v, strlen(v) + 1);
    ), "length=%u", length);
}

/* ------------------------------------------------------------------------------------------ */
/* Enumeration                                                                                 */

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    CALL(1, "nvmlDeviceGetCount_v2", BODY(
        if (!count) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *count = (unsigned)n_devices;
    ), "%s", "");
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    CALL(1, "nvmlDeviceGetHandleByIndex_v2", BODY(
        if (!device || index >= (unsigned)n_devices) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *device = &devices[index];
    ), "index=%u", index);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    CALL(1, "nvmlDeviceGetHandleByUUID", BODY(
        if (!uuid || !device) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        rc = NVML_ERROR_NOT_FOUND;
        for (int i = 0; i < n_devices && rc != NVML_SUCCESS; i++) {
            if (strcmp(devices[i].uuid, uuid) == 0) { *device = &devices[i]; rc = NVML_SUCCESS; }
            for (int m = 0; m < devices[i].n_mig && rc != NVML_SUCCESS; m++)
                if (strcmp(devices[i].migs[m].uuid, uuid) == 0) { *device = &devices[i].migs[m]; rc = NVML_SUCCESS; }
        }
    ), "uuid=%s", uuid ? uuid : "null");
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned int *index)
{
    CALL(1, "nvmlDeviceGetIndex", BODY(
        REQUIRE_DEVICE(d)
        if (!index) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->mig_index >= 0) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        *index = (unsigned)d->index;
    ), "dev=%s", DEV(d));
}

static nvmlReturn_t copy_string(const char *s, char *out, unsigned length)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (length < strlen(s) + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
    CALL(1, "nvmlDeviceGetName", BODY(REQUIRE_DEVICE(d) rc = copy_string(d->name, name, length);),
         "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length)
{
    CALL(1, "nvmlDeviceGetUUID", BODY(REQUIRE_DEVICE(d) rc = copy_string(d->uuid, uuid, length);),
         "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t d, unsigned int *arch)
{
    CALL(1, "nvmlDeviceGetArchitecture", BODY(
        REQUIRE_DEVICE(d)
        if (!arch) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *arch = d->arch->arch;
    ), "dev=%s", DEV(d));
}

/* nvmlPciInfo_t as of NVML 11+ (the layout nvmlDeviceGetPciInfo_v3 fills). */
typedef struct {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    CALL(1, "nvmlDeviceGetPciInfo_v3", BODY(
        REQUIRE_DEVICE(d)
        if (!pci) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        memset(pci, 0, sizeof *pci);
        snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", d->pci_bus);
        pci->domain = 0;
        pci->bus = d->pci_bus;
        pci->device = 0;
        pci->pciDeviceId = 0x20B010DE;
        pci->pciSubSystemId = 0x134F10DE;
        snprintf(pci->busId, sizeof pci->busId, "%s", d->pci_bus_id);
    ), "dev=%s", DEV(d));
}

/* ------------------------------------------------------------------------------------------ */
/* MIG                                                                                         */

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending)
{
    CALL(1, "nvmlDeviceGetMigMode", BODY(
        REQUIRE_DEVICE(d)
        if (!current || !pending) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->arch->arch < ARCH_AMPERE || d->mig_index >= 0) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        *current = *pending = (unsigned)d->mig_mode;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t d, unsigned int *is_mig)
{
    CALL(1, "nvmlDeviceIsMigDeviceHandle", BODY(
        REQUIRE_DEVICE(d)
        if (!is_mig) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *is_mig = d->mig_index >= 0;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t d, nvmlDevice_t *parent)
{
    CALL(1, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", BODY(
        REQUIRE_DEVICE(d)
        if (!parent || d->mig_index < 0) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *parent = d->parent;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count)
{
    CALL(1, "nvmlDeviceGetMaxMigDeviceCount", BODY(
        REQUIRE_DEVICE(d)
        if (!count) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->arch->arch < ARCH_AMPERE || d->mig_index >= 0) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        *count = MAX_MIG;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index, nvmlDevice_t *mig)
{
    CALL(1, "nvmlDeviceGetMigDeviceHandleByIndex", BODY(
        REQUIRE_DEVICE(d)
        if (!mig || d->mig_index >= 0) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (index >= (unsigned)d->n_mig) { rc = NVML_ERROR_NOT_FOUND; break; }
        *mig = &d->migs[index];
    ), "dev=%s index=%u", DEV(d), index);
}

/* ------------------------------------------------------------------------------------------ */
/* Clocks                                                                                      */

static unsigned n_mem_clocks(const struct arch_profile *a)
{
    unsigned n = 0;
    while (n < 4 && a->mem_clocks[n])
        n++;
    return n;
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t d, unsigned int *count, unsigned int *clocks)
{
    CALL(1, "nvmlDeviceGetSupportedMemoryClocks", BODY(
        REQUIRE_DEVICE(d)
        if (!count) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        unsigned n = n_mem_clocks(d->arch);
        if (*count < n || !clocks) { *count = n; rc = NVML_ERROR_INSUFFICIENT_SIZE; break; }
        for (unsigned i = 0; i < n; i++)
            clocks[i] = d->arch->mem_clocks[i];
        *count = n;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t d, unsigned int memory_mhz,
                                                         unsigned int *count, unsigned int *clocks)
{
    CALL(1, "nvmlDeviceGetSupportedGraphicsClocks", BODY(
        REQUIRE_DEVICE(d)
        if (!count) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        int known = 0;
        for (unsigned i = 0; i < n_mem_clocks(d->arch); i++)
            known |= d->arch->mem_clocks[i] == memory_mhz;
        if (!known) { rc = NVML_ERROR_NOT_FOUND; break; }
        const struct arch_profile *a = d->arch;
        unsigned n = (a->gfx_max - a->gfx_min) / a->gfx_step + 1;
        if (*count < n || !clocks) { *count = n; rc = NVML_ERROR_INSUFFICIENT_SIZE; break; }
        for (unsigned i = 0; i < n; i++)
            clocks[i] = a->gfx_max - i * a->gfx_step;
        *count = n;
    ), "dev=%s mem=%u", DEV(d), memory_mhz);
}

enum { CLOCK_GRAPHICS = 0, CLOCK_SM = 1, CLOCK_MEM = 2, CLOCK_VIDEO = 3 };

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *mhz)
{
    CALL(1, "nvmlDeviceGetClockInfo", BODY(
        REQUIRE_DEVICE(d)
        if (!mhz || type > CLOCK_VIDEO) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        struct fake_device *g = d->parent ? d->parent : d;
        switch (type) {
        case CLOCK_GRAPHICS:
        case CLOCK_SM:
            *mhz = g->gpu_locked && g->gpu_locked_max < g->arch->gfx_max ? g->gpu_locked_max : g->arch->gfx_max;
            break;
        case CLOCK_MEM:
            *mhz = g->mem_locked && g->mem_locked_max < g->arch->mem_clocks[0] ? g->mem_locked_max : g->arch->mem_clocks[0];
            break;
        default:
            *mhz = 1275;
        }
    ), "dev=%s type=%u", DEV(d), type);
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *mhz)
{
    CALL(1, "nvmlDeviceGetMaxClockInfo", BODY(
        REQUIRE_DEVICE(d)
        if (!mhz || type > CLOCK_VIDEO) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        switch (type) {
        case CLOCK_GRAPHICS:
        case CLOCK_SM: *mhz = d->arch->gfx_max; break;
        case CLOCK_MEM: *mhz = d->arch->mem_clocks[0]; break;
        default: *mhz = 1950;
        }
    ), "dev=%s type=%u", DEV(d), type);
}

static unsigned long long event_reasons(const struct fake_device *d)
{
    const struct fake_device *g = d->parent ? d->parent : d;
    unsigned long long reasons = 0;
    if (g->gpu_locked || g->mem_locked)
        reasons |= 0x2; /* applications clocks setting */
    if (g->power_limit_mw < g->arch->pl_default_w * 1000U)
        reasons |= 0x4; /* SW power cap */
    if (!reasons)
        reasons = 0x1; /* idle */
    return reasons;
}

/* The clock event reasons, under the current name and the one older drivers have (the same
 * query: NVML renamed "throttle" to "event"). */
static nvmlReturn_t clock_reasons(const char *fname, nvmlDevice_t d, unsigned long long *reasons)
{
    CALL(1, fname, BODY(
        REQUIRE_DEVICE(d)
        if (!reasons) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        *reasons = event_reasons(d);
    ), "dev=%s", DEV(d));
}

#ifndef FAKE_NVML_OLD_DRIVER
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *reasons)
{
    return clock_reasons("nvmlDeviceGetCurrentClocksEventReasons", d, reasons);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *reasons)
{
    return clock_reasons("nvmlDeviceGetCurrentClocksThrottleReasons", d, reasons);
}

/* FAKE_NVML_SET_DELAY_MS: the latency of a setter, spent before the call is counted or locked. */
static void setter_delay(void)
{
    const char *value = getenv("FAKE_NVML_SET_DELAY_MS");
    unsigned long ms = value ? strtoul(value, NULL, 10) : 0;
    if (ms) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* TDP = 0xffffff01 and UNLIMITED = 0xffffff02 are accepted as symbolic values (both or neither). */
static int symbolic_clock(unsigned mhz)
{
    return mhz == 0xffffff01U || mhz == 0xffffff02U;
}

/* The locked-clock settings: the graphics clock (Volta and later, which also accept the
 * symbolic values) or the memory clock (Ampere and later). Locks min..max (lock = 1) or resets
 * (lock = 0, the range unused and not logged). */
static nvmlReturn_t locked_clocks(const char *fname, nvmlDevice_t d, int graphics, int lock,
                                  unsigned min_mhz, unsigned max_mhz)
{
    char range[48] = "";
    if (lock)
        snprintf(range, sizeof range, " min=%u max=%u", min_mhz, max_mhz);
    setter_delay();
    CALL(1, fname, BODY(
        REQUIRE_SETTER(d)
        if (d->arch->arch < (graphics ? ARCH_VOLTA : ARCH_AMPERE)) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        REQUIRE_ROOT()
        int symbolic = graphics && symbolic_clock(min_mhz);
        if (lock && ((graphics && symbolic != symbolic_clock(max_mhz)) ||
                     (!symbolic && min_mhz > max_mhz))) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        int *locked = graphics ? &d->gpu_locked : &d->mem_locked;
        unsigned *min = graphics ? &d->gpu_locked_min : &d->mem_locked_min;
        unsigned *max = graphics ? &d->gpu_locked_max : &d->mem_locked_max;
        *locked = lock;
        *min = lock ? min_mhz : 0;
        *max = lock ? max_mhz : 0;
        save_state();
    ), "dev=%s%s", DEV(d), range);
}

EXPORT nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t d, unsigned int min_mhz, unsigned int max_mhz)
{
    return locked_clocks("nvmlDeviceSetGpuLockedClocks", d, 1, 1, min_mhz, max_mhz);
}

EXPORT nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t d)
{
    return locked_clocks("nvmlDeviceResetGpuLockedClocks", d, 1, 0, 0, 0);
}

#ifndef FAKE_NVML_OLD_DRIVER
EXPORT nvmlReturn_t nvmlDeviceSetMemoryLockedClocks(nvmlDevice_t d, unsigned int min_mhz, unsigned int max_mhz)
{
    return locked_clocks("nvmlDeviceSetMemoryLockedClocks", d, 0, 1, min_mhz, max_mhz);
}

EXPORT nvmlReturn_t nvmlDeviceResetMemoryLockedClocks(nvmlDevice_t d)
{
    return locked_clocks("nvmlDeviceResetMemoryLockedClocks", d, 0, 0, 0, 0);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Power and energy                                                                            */

static unsigned limit_mw(const struct fake_device *d) { return d->power_limit_mw; }
static unsigned default_limit_mw(const struct fake_device *d) { return d->arch->pl_default_w * 1000U; }

/* A power value of a full GPU (MIG devices have none), in mW: `value` of the device. */
static nvmlReturn_t power_mw(const char *fname, nvmlDevice_t d, unsigned int *mw,
                             unsigned (*value)(const struct fake_device *))
{
    CALL(1, fname, BODY(
        REQUIRE_DEVICE(d)
        if (!mw) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->mig_index >= 0) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        *mw = value(d);
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *mw)
{
    return power_mw("nvmlDeviceGetPowerManagementLimit", d, mw, limit_mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *mw)
{
    return power_mw("nvmlDeviceGetPowerManagementDefaultLimit", d, mw, default_limit_mw);
}

/* The fake enforces the limit that is set. */
EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw)
{
    return power_mw("nvmlDeviceGetEnforcedPowerLimit", d, mw, limit_mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t d, unsigned int *min_mw,
                                                                 unsigned int *max_mw)
{
    CALL(1, "nvmlDeviceGetPowerManagementLimitConstraints", BODY(
        REQUIRE_DEVICE(d)
        if (!min_mw || !max_mw) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->mig_index >= 0) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        *min_mw = d->arch->pl_min_w * 1000U;
        *max_mw = d->arch->pl_max_w * 1000U;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t d, unsigned int mw)
{
    setter_delay();
    CALL(1, "nvmlDeviceSetPowerManagementLimit", BODY(
        REQUIRE_SETTER(d)
        REQUIRE_ROOT()
        if (mw < d->arch->pl_min_w * 1000U || mw > d->arch->pl_max_w * 1000U) {
            rc = NVML_ERROR_INVALID_ARGUMENT;
            break;
        }
        advance_energy(d);
        d->power_limit_mw = mw;
        save_state();
    ), "dev=%s limit_mw=%u", DEV(d), mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    return power_mw("nvmlDeviceGetPowerUsage", d, mw, current_power_mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    CALL(1, "nvmlDeviceGetTotalEnergyConsumption", BODY(
        REQUIRE_DEVICE(d)
        if (!mj) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        if (d->mig_index >= 0 || d->arch->arch < ARCH_VOLTA) { rc = NVML_ERROR_NOT_SUPPORTED; break; }
        advance_energy(d);
        *mj = d->energy_uj / 1000ULL;
    ), "dev=%s", DEV(d));
}

/* ------------------------------------------------------------------------------------------ */
/* Persistence mode                                                                            */

EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, unsigned int *mode)
{
    CALL(1, "nvmlDeviceGetPersistenceMode", BODY(
        REQUIRE_DEVICE(d)
        if (!mode) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        struct fake_device *g = d->parent ? d->parent : d;
        *mode = (unsigned)g->persistence;
    ), "dev=%s", DEV(d));
}

EXPORT nvmlReturn_t nvmlDeviceSetPersistenceMode(nvmlDevice_t d, unsigned int mode)
{
    setter_delay();
    CALL(1, "nvmlDeviceSetPersistenceMode", BODY(
        REQUIRE_SETTER(d)
        REQUIRE_ROOT()
        if (mode > 1) { rc = NVML_ERROR_INVALID_ARGUMENT; break; }
        d->persistence = (int)mode;
        save_state();
    ), "dev=%s mode=%u", DEV(d), mode);
}

/* ------------------------------------------------------------------------------------------ */
/* Test entry points of the power model (not NVML's; see the header comment)                  */

/* Locks the mutex and configures on first use, without counting a call. */
static void model_lock(void)
{
    pthread_mutex_lock(&lock);
    if (!configured)
        configure();
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_line(const char *fmt, ...)
{
    if (!log_path[0])
        return;
    FILE *f = fopen(log_path, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* The clock a computation on `d` runs at now (under the mutex). */
static unsigned running_clock_mhz(const struct fake_device *d)
{
    return effective_clock_mhz(d, d->gpu_locked_max, d->gpu_locked);
}

EXPORT int fakeNvmlRun(unsigned index, double seconds_at_max)
{
    model_lock();
    if (index >= (unsigned)n_devices || !(seconds_at_max >= 0.0) || !isfinite(seconds_at_max)) {
        pthread_mutex_unlock(&lock);
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    struct fake_device *d = &devices[index];
    unsigned mhz = running_clock_mhz(d);
    double busy_s = model_busy_s(d, mhz, seconds_at_max);
    /* The idle segment ends now; the busy one starts at the same instant. */
    advance_energy(d);
    d->busy++;
    d->busy_mw = (unsigned)(model_busy_mw(d, mhz) + 0.5);
    log_line("fakeNvmlRun dev=%u mhz=%u busy_s=%.6f -> SUCCESS\n", index, mhz, busy_s);
    pthread_mutex_unlock(&lock);

    /* Sleep to an absolute deadline, so that EINTR does not stretch the computation. */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    long long ns = (long long)(busy_s * 1e9 + 0.5);
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec += (long)(ns % 1000000000LL);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
        ;

    pthread_mutex_lock(&lock);
    advance_energy(d);
    d->busy--;
    pthread_mutex_unlock(&lock);
    return NVML_SUCCESS;
}

EXPORT double fakeNvmlBusyPowerW(unsigned index, unsigned freq_mhz)
{
    model_lock();
    double w = -1.0;
    if (index < (unsigned)n_devices) {
        const struct fake_device *d = &devices[index];
        double mw = model_busy_mw(d, freq_mhz);
        w = (mw < d->power_limit_mw ? mw : d->power_limit_mw) / 1000.0;
    }
    pthread_mutex_unlock(&lock);
    return w;
}

EXPORT double fakeNvmlBusySeconds(unsigned index, unsigned freq_mhz, double seconds_at_max)
{
    model_lock();
    double s = index < (unsigned)n_devices ? model_busy_s(&devices[index], freq_mhz, seconds_at_max) : -1.0;
    pthread_mutex_unlock(&lock);
    return s;
}
