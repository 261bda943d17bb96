/* `ak receipt`: verify, show and replay execution receipts (agentkernel's
 * format, seeds/receipt.rs), offline; and the local signing key. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/receipt_local.h"
#include "cli/replay.h"
#include "cli/stack.h"
#include "lib/base/parse.h"
#include "lib/json/writer.h"
#include "lib/receipt/receipt.h"

const char cli_receipt_help[] =
        "Usage: ak receipt verify FILE... [--allow-unsigned] [--key-id ID]...\n"
        "       ak receipt show FILE [--json]\n"
        "       ak receipt replay FILE [--allow-unsigned] [--print]\n"
        "       ak receipt prune --older-than AGE [--dry-run]\n"
        "       ak receipt key [--json]\n"
        "\n"
        "Execution receipts record what ran in a sandbox and how it ended, sealed\n"
        "with a SHA-256 and an Ed25519 signature, byte-compatible with agentkernel's.\n"
        "Everything here works offline.\n"
        "\n"
        "verify checks each FILE (version, payload hash, signature) and prints one\n"
        "line per valid receipt; otherwise it prints the reason and exits 1.\n"
        "Unsigned (legacy) receipts pass only with --allow-unsigned. A valid\n"
        "signature proves the receipt is unchanged since whoever holds that key\n"
        "signed it: --key-id ID (repeatable) also requires one of these signer keys\n"
        "(see `ak receipt key` and the signer's ListPublicKeys).\n"
        "\n"
        "show prints a receipt for people, and whether it verifies; --json prints it\n"
        "as JSON in agentkernel's layout. Showing is not vouching: use verify.\n"
        "\n"
        "A receipt from ak's executor also names the tenant whose sandbox ran the\n"
        "command. The tenant is not covered by the signature (agentkernel verifies\n"
        "by re-serializing its own fields, which have no tenant), so verify and show\n"
        "print it as \"tenant X (unsigned)\": anyone who can edit the file can change\n"
        "it. The audit stream (actor.org_id) is the record of who ran what.\n"
        "\n"
        "replay verifies the receipt, prints the agentkernel command of its invocation\n"
        "(quoted for a POSIX shell, $'...' for control characters) on stderr, runs it\n"
        "again through the stack (mode run: a fresh sandbox with the recorded image,\n"
        "profile and network, never kept; mode exec: in the sandbox it names, which\n"
        "must exist), and prints whether the exit code and the output hash (SHA-256\n"
        "of stdout and stderr as they came) match the receipt's; the new receipt is\n"
        "saved under $AK_HOME/receipts. The replayed output itself is not printed.\n"
        "Exit status: 0 both match, 1 a mismatch or an invalid receipt, 125 the\n"
        "command could not be run again. --print only prints the command, on stdout.\n"
        "\n"
        "prune removes receipts in $AK_HOME/receipts written (file time) more than\n"
        "AGE ago: 30d, 12h, 90m, 45s. Only files that load as receipts go; the\n"
        "signing key and anything else there stay. --dry-run lists what would go.\n"
        "\n"
        "key prints the key that signs receipts on this machine when no signer\n"
        "service is used: $AK_HOME/receipts/ed25519_signing_key.pkcs8 (AK_HOME\n"
        "defaults to ~/.agentkernel), created (0600) if missing, as agentkernel does.\n"
        "\n"
        "Exit status: 0 valid, 1 invalid or unreadable, 2 bad usage.\n"
        "\n"
        "Examples:\n"
        "  ak receipt verify receipt.json\n"
        "  ak receipt verify --key-id 1a2b3c4d5e6f7a8b runs/*.json\n"
        "  ak receipt verify --allow-unsigned old-receipt.json\n"
        "  ak receipt show receipt.json\n"
        "  ak receipt show --json receipt.json | jq .outcome\n"
        "  ak receipt replay receipt.json\n"
        "  ak receipt prune --older-than 30d\n"
        "  ak receipt key\n";

static const struct cli_command cmd = {
        "receipt", "verify, show, replay and prune execution receipts", cli_receipt_run, cli_receipt_help,
};

/* ---- quoting for a shell --------------------------------------------- */

static bool plain(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr("_@%+=:,./-", c);
}

/* Writes s so that a POSIX shell (bash for $'...') reads it back as one word. */
static void put_quoted(FILE *f, const char *s)
{
        bool bare = *s != '\0', control = false;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (!plain(*p))
                        bare = false;
                if (*p < 0x20 || *p == 0x7f)
                        control = true;
        }
        if (bare) {
                fputs(s, f);
        } else if (control) {
                fputs("$'", f);
                for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                        if (*p == '\'' || *p == '\\')
                                fprintf(f, "\\%c", *p);
                        else if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\x%02x", *p);
                        else
                                fputc(*p, f);
                }
                fputc('\'', f);
        } else {
                fputc('\'', f);
                for (const char *p = s; *p; p++) {
                        if (*p == '\'')
                                fputs("'\\''", f);
                        else
                                fputc(*p, f);
                }
                fputc('\'', f);
        }
}

static void put_words(FILE *f, char *const *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (i)
                        fputc(' ', f);
                put_quoted(f, v[i]);
        }
}

/* ---- options ------------------------------------------------------------ */

struct opts {
        const char *files[256];
        size_t n_files;
        const char *key_ids[64];
        size_t n_key_ids;
        bool allow_unsigned;
        bool json;
        bool print_only;
};

static const struct cli_option verify_opts[] = {
        { "allow-unsigned", 0, false, 'u' },
        { "key-id", 0, true, 'k' },
        { NULL, 0, false, 0 },
};
static const struct cli_option json_opts[] = { { "json", 0, false, 'j' }, { NULL, 0, false, 0 } };
static const struct cli_option replay_opts[] = {
        { "allow-unsigned", 0, false, 'u' },
        { "print", 0, false, 'p' },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const verify_tables[] = { verify_opts, NULL };
static const struct cli_option *const json_tables[] = { json_opts, NULL };
static const struct cli_option *const replay_tables[] = { replay_opts, NULL };
const struct cli_sub cli_receipt_subs[] = {
        { "verify", verify_tables },
        { "show", json_tables },
        { "replay", replay_tables },
        { "key", json_tables },
        { "prune", NULL }, /* parsed by cmd_prune */
        { NULL, NULL },
};

/* Files and the options of `sub` (cli_receipt_subs); returns 0 or the usage
 * exit code. */
static int parse(int argc, char **argv, const char *sub, struct opts *o)
{
        const struct cli_option *const *tables = NULL;
        for (const struct cli_sub *s = cli_receipt_subs; s->name && !tables; s++)
                if (strcmp(s->name, sub) == 0)
                        tables = s->tables;
        struct cli_opts p;
        int id;
        cli_opts_init(&p, &cmd, tables, argc, argv);
        for (;;) {
                id = cli_opts_next(&p);
                if (id == CLI_OPT_ERROR)
                        return 2;
                if (id == CLI_OPT_DONE && !p.dashdash)
                        break;
                if (id == CLI_OPT_DONE || id == CLI_OPT_POSITIONAL) {
                        /* after "--" every argument is a file */
                        int from = cli_opts_index(&p);
                        int to = id == CLI_OPT_DONE ? argc : from + 1;
                        for (int i = from; i < to; i++) {
                                if (o->n_files == sizeof(o->files) / sizeof(o->files[0]))
                                        return cli_usage_error(&cmd, "%s: at most %zu files at once", sub,
                                                               o->n_files);
                                o->files[o->n_files++] = argv[i];
                        }
                        if (id == CLI_OPT_DONE)
                                break;
                } else if (id == 'u') {
                        o->allow_unsigned = true;
                } else if (id == 'p') {
                        o->print_only = true;
                } else if (id == 'j') {
                        o->json = true;
                } else if (id == 'k') {
                        if (o->n_key_ids == sizeof(o->key_ids) / sizeof(o->key_ids[0]))
                                return cli_usage_error(&cmd, "%s: at most %zu --key-id", sub, o->n_key_ids);
                        o->key_ids[o->n_key_ids++] = p.arg;
                }
        }
        return 0;
}

static const char *mode_name(const struct receipt *r)
{
        return r->invocation.mode == RECEIPT_MODE_RUN ? "run" : "exec";
}

/* ---- verify ------------------------------------------------------------- */

static bool key_allowed(const struct opts *o, const struct receipt *r)
{
        if (o->n_key_ids == 0)
                return true;
        for (size_t i = 0; i < o->n_key_ids; i++)
                if (r->signature && strcmp(o->key_ids[i], r->signature->key_id) == 0)
                        return true;
        return false;
}

/* Loads and verifies; prints the reason and returns NULL when invalid. */
static struct receipt *load_verified(const char *sub, const char *path, const struct opts *o)
{
        struct receipt *r = NULL;
        char *error = NULL;

        if (receipt_load_file(path, &r, &error) < 0) {
                fprintf(stderr, "ak receipt %s: %s\n", sub, error ? error : "out of memory");
                free(error);
                return NULL;
        }
        if (receipt_verify(r, o->allow_unsigned, &error) < 0) {
                fprintf(stderr, "ak receipt %s: %s: %s\n", sub, path, error ? error : "out of memory");
                free(error);
                receipt_free(r);
                return NULL;
        }
        if (!key_allowed(o, r)) {
                fprintf(stderr, "ak receipt %s: %s: signed by key %s, not one of the --key-id keys\n", sub, path,
                        r->signature ? r->signature->key_id : "(unsigned)");
                receipt_free(r);
                return NULL;
        }
        return r;
}

static int cmd_verify(int argc, char **argv)
{
        struct opts o = { 0 };
        int rc = parse(argc, argv, "verify", &o), failed = 0;

        if (rc)
                return rc;
        if (o.n_files == 0)
                return cli_usage_error(&cmd, "verify: which receipt file?");
        for (size_t i = 0; i < o.n_files; i++) {
                struct receipt *r = load_verified("verify", o.files[i], &o);
                if (!r) {
                        failed = 1;
                        continue;
                }
                printf("%s: valid receipt %s (%s, exit %d), ", o.files[i], r->receipt_id, mode_name(r),
                       r->outcome.exit_code);
                if (r->signature)
                        printf("signed by %s key %s", r->signature->algorithm, r->signature->key_id);
                else
                        printf("unsigned (allowed by --allow-unsigned)");
                if (r->tenant) {
                        fputs("; tenant ", stdout);
                        put_quoted(stdout, r->tenant);
                        fputs(" (unsigned)", stdout);
                }
                putchar('\n');
                receipt_free(r);
        }
        return failed;
}

/* ---- show --------------------------------------------------------------- */

static void row(const char *label, const char *value)
{
        printf("%-13s%s\n", label, value);
}

static void row_quoted(const char *label, const char *value)
{
        printf("%-13s", label);
        if (value)
                put_quoted(stdout, value);
        else
                fputs("(none)", stdout);
        putchar('\n');
}

static void row_words(const char *label, char *const *v, size_t n)
{
        printf("%-13s", label);
        if (n)
                put_words(stdout, v, n);
        else
                fputs("(none)", stdout);
        putchar('\n');
}

static void show_invocation(const struct receipt *r)
{
        row("Mode", mode_name(r));
        if (r->invocation.mode == RECEIPT_MODE_RUN) {
                const struct receipt_run *run = &r->invocation.run;
                row_words("Command", run->command, run->n_command);
                row_quoted("Image", run->image);
                row_quoted("Backend", run->backend);
                row_quoted("Profile", run->profile);
                char flags[64];
                snprintf(flags, sizeof(flags), "%s%s%s", run->no_network ? " --no-network" : "",
                         run->fast ? " --fast" : "", run->keep ? " --keep" : "");
                row("Options", flags[0] ? flags + 1 : "(none)");
        } else {
                const struct receipt_exec *ex = &r->invocation.exec;
                row_quoted("Sandbox", ex->name);
                row_words("Command", ex->command, ex->n_command);
                row_words("Env", ex->env, ex->n_env);
                row_quoted("Workdir", ex->workdir);
                row("Sudo", ex->sudo ? "yes" : "no");
        }
}

static int cmd_show(int argc, char **argv)
{
        struct opts o = { 0 };
        struct receipt *r = NULL;
        char *error = NULL, *json;
        size_t len;
        int rc = parse(argc, argv, "show", &o);

        if (rc)
                return rc;
        if (o.n_files != 1)
                return cli_usage_error(&cmd, "show: give one receipt file");
        if (receipt_load_file(o.files[0], &r, &error) < 0) {
                fprintf(stderr, "ak receipt show: %s\n", error ? error : "out of memory");
                free(error);
                return 1;
        }
        if (o.json) {
                if (receipt_to_json(r, true, &json, &len) < 0) {
                        receipt_free(r);
                        fprintf(stderr, "ak receipt show: out of memory\n");
                        return 1;
                }
                printf("%s\n", json);
                free(json);
                receipt_free(r);
                return 0;
        }
        printf("%-13s%s (version %u)\n", "Receipt", r->receipt_id, r->version);
        row_quoted("Recorded at", r->recorded_at);
        show_invocation(r);
        printf("%-13s%d (%s)\n", "Exit code", r->outcome.exit_code, r->outcome.success ? "success" : "failure");
        printf("%-13s%llu bytes, sha256 ", "Output", (unsigned long long)r->outcome.output_bytes);
        put_quoted(stdout, r->outcome.output_sha256);
        putchar('\n');
        if (r->outcome.error)
                row_quoted("Error", r->outcome.error);
        row_quoted("Payload hash", r->payload_hash_sha256);
        if (r->signature) {
                printf("%-13s", "Signature");
                put_quoted(stdout, r->signature->algorithm);
                fputs(", key ", stdout);
                put_quoted(stdout, r->signature->key_id);
                fputs(", public key ", stdout);
                put_quoted(stdout, r->signature->public_key);
                putchar('\n');
        } else {
                row("Signature", "(unsigned)");
        }
        if (r->tenant) {
                printf("%-13s", "Tenant");
                put_quoted(stdout, r->tenant);
                fputs(" (unsigned: not covered by the signature)\n", stdout);
        }
        if (receipt_verify(r, true, &error) < 0) {
                printf("%-13sINVALID: %s\n", "Verified", error ? error : "out of memory");
                free(error);
        } else {
                row("Verified", r->signature ? "yes" : "unsigned: only its hash checks out");
        }
        receipt_free(r);
        return 0;
}

/* ---- replay ------------------------------------------------------------- */

static void print_match(const char *what, const char *got, const char *want, bool same)
{
        printf("%-12s%s (recorded %s): %s\n", what, got, want, same ? "match" : "MISMATCH");
}

static int cmd_replay(int argc, char **argv)
{
        struct opts o = { 0 };
        struct receipt *r;
        char **args;
        size_t n;
        int rc = parse(argc, argv, "replay", &o);

        if (rc)
                return rc;
        if (o.n_files != 1)
                return cli_usage_error(&cmd, "replay: give one receipt file");
        r = load_verified("replay", o.files[0], &o);
        if (!r)
                return 1;
        if (receipt_replay_args(r, &args, &n) < 0) {
                receipt_free(r);
                fprintf(stderr, "ak receipt replay: out of memory\n");
                return 1;
        }
        FILE *f = o.print_only ? stdout : stderr;
        fputs(o.print_only ? "agentkernel " : "ak receipt replay: re-running: agentkernel ", f);
        put_words(f, args, n);
        fputc('\n', f);
        receipt_strv_free(args, SIZE_MAX);
        if (o.print_only) {
                receipt_free(r);
                return 0;
        }
        struct replay_outcome out;
        struct ak_error err = { 0 };
        if (cli_replay_run(r, &out, &err) < 0) {
                fprintf(stderr, "ak receipt replay: %s\n", err.msg);
                receipt_free(r);
                return 125;
        }
        char got[96], want[96];
        bool code_ok = out.exit_code == r->outcome.exit_code;
        bool hash_ok = strcmp(out.output_sha256, r->outcome.output_sha256) == 0;
        printf("%-12s%s\n", "receipt", r->receipt_id);
        snprintf(got, sizeof(got), "%d", out.exit_code);
        snprintf(want, sizeof(want), "%d", r->outcome.exit_code);
        print_match("exit code", got, want, code_ok);
        snprintf(got, sizeof(got), "sha256 %s, %llu bytes", out.output_sha256, (unsigned long long)out.output_bytes);
        snprintf(want, sizeof(want), "sha256 %.64s, %llu bytes", r->outcome.output_sha256,
                 (unsigned long long)r->outcome.output_bytes);
        print_match("output", got, want, hash_ok);
        if (out.error[0])
                printf("%-12s%s\n", "error", out.error);
        if (out.receipt_path[0])
                printf("%-12s%s\n", "new receipt", out.receipt_path);
        printf("%s\n", code_ok && hash_ok ? "replay matches" : "replay DIFFERS");
        receipt_free(r);
        return code_ok && hash_ok ? 0 : 1;
}

/* ---- prune ---------------------------------------------------------------- */

/* Whether dir/name is a receipt written before cutoff (a regular file, not
 * followed through a link, that loads as a receipt). */
static bool prunable(int dfd, const char *dir, const char *name, time_t cutoff)
{
        struct stat st;
        size_t len = strlen(name);
        if (len < 6 || strcmp(name + len - 5, ".json") != 0)
                return false;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
                return false;
        char path[4096 + 256 + 2]; /* dir (PATH_MAX) / d_name (256) */
        struct receipt *r = NULL;
        char *error = NULL;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        bool ok = receipt_load_file(path, &r, &error) == 0;
        receipt_free(r);
        free(error);
        return ok;
}

static int cmd_prune(int argc, char **argv)
{
        const char *age = NULL;
        bool dry = false;
        uint64_t secs;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc)
                        age = argv[++i];
                else if (strncmp(argv[i], "--older-than=", 13) == 0)
                        age = argv[i] + 13;
                else if (strcmp(argv[i], "--dry-run") == 0)
                        dry = true;
                else
                        return cli_usage_error(&cmd, "prune: unexpected %s", argv[i]);
        }
        if (!age)
                return cli_usage_error(&cmd, "prune: --older-than AGE is required (30d, 12h, 90m, 45s)");
        if (ak_parse_duration(age, 0, (uint64_t)100 * 365 * 86400, &secs) < 0)
                return cli_usage_error(&cmd, "prune: --older-than %s: want digits and s, m, h or d, at most 100 "
                                       "years (30d, 12h)", age);
        struct stack st;
        struct ak_error err = { 0 };
        if (stack_paths(&st, &err) < 0) {
                fprintf(stderr, "ak receipt prune: %s\n", err.msg);
                return 1;
        }
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/receipts", st.home);
        DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        printf("no receipts in %s\n", dir);
                        return 0;
                }
                fprintf(stderr, "ak receipt prune: open %s: %s\n", dir, strerror(errno));
                return 1;
        }
        time_t cutoff = time(NULL) - (time_t)secs;
        unsigned gone = 0, failed = 0;
        for (struct dirent *e; (e = readdir(d));) {
                if (!prunable(dirfd(d), dir, e->d_name, cutoff))
                        continue;
                if (dry) {
                        printf("would remove %s/%s\n", dir, e->d_name);
                        gone++;
                } else if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
                        gone++;
                } else {
                        fprintf(stderr, "ak receipt prune: remove %s/%s: %s\n", dir, e->d_name, strerror(errno));
                        failed++;
                }
        }
        closedir(d);
        printf("%s %u receipt%s older than %s from %s\n", dry ? "would remove" : "removed", gone,
               gone == 1 ? "" : "s", age, dir);
        return failed ? 1 : 0;
}

/* ---- key ------------------------------------------------------------------ */

static int cmd_key(int argc, char **argv)
{
        struct crypto_ed25519_key *key;
        struct opts o = { 0 };
        char *path = NULL, *error = NULL, *pub = NULL, id[17];
        struct receipt_signature *sig = NULL;
        int rc = parse(argc, argv, "key", &o);

        if (rc)
                return rc;
        if (o.n_files)
                return cli_usage_error(&cmd, "key: unexpected argument %s", o.files[0]);
        if (local_receipt_key(&key, &path, &error) < 0) {
                fprintf(stderr, "ak receipt key: %s\n", error ? error : "out of memory");
                free(error);
                return 1;
        }
        /* The public half as receipts carry it: sign nothing, keep the key fields. */
        rc = receipt_sign_payload(key, "", 0, &sig);
        crypto_ed25519_key_free(key);
        if (rc < 0) {
                fprintf(stderr, "ak receipt key: %s\n", crypto_init_error_message(rc));
                free(path);
                return 1;
        }
        pub = sig->public_key;
        memcpy(id, sig->key_id, sizeof(id));
        id[16] = '\0';
        if (o.json) {
                struct json_writer *w = NULL;
                char *out = NULL;
                size_t len;
                rc = json_writer_new(JSON_WRITER_LOSSY, 0, &w);
                if (rc == 0) {
                        json_writer_begin_object(w);
                        json_writer_key(w, "path", 4);
                        json_writer_string(w, path, strlen(path));
                        json_writer_key(w, "algorithm", 9);
                        json_writer_string(w, "ed25519", 7);
                        json_writer_key(w, "key_id", 6);
                        json_writer_string(w, id, strlen(id));
                        json_writer_key(w, "public_key", 10);
                        json_writer_string(w, pub, strlen(pub));
                        json_writer_end_object(w);
                        rc = json_writer_finish(w, &out, &len);
                }
                json_writer_free(w);
                if (rc == 0)
                        printf("%s\n", out);
                else
                        fprintf(stderr, "ak receipt key: out of memory\n");
                free(out);
                rc = rc ? 1 : 0;
        } else {
                printf("%-13s%s\n%-13sed25519\n%-13s%s\n%-13s%s\n", "Key file", path, "Algorithm", "Key ID", id,
                       "Public key", pub);
        }
        receipt_signature_free(sig);
        free(path);
        return rc;
}

int cli_receipt_run(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*run)(int, char **);
        } subs[] = {
                { "verify", cmd_verify },
                { "show", cmd_show },
                { "replay", cmd_replay },
                { "prune", cmd_prune },
                { "key", cmd_key },
        };

        if (argc < 2)
                return cli_usage_error(&cmd, "which one: verify, show, replay, prune or key?");
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
                if (strcmp(argv[1], subs[i].name) == 0)
                        return subs[i].run(argc - 1, argv + 1);
        return cli_usage_error(&cmd, "unknown subcommand '%s' (verify, show, replay, prune or key)", argv[1]);
}
