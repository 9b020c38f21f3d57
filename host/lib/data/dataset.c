/* dataset.c — image folders and IDX pairs as datasets, with a batch iterator that decodes in parallel. */
#define _DEFAULT_SOURCE /* getline, opendir and DT_* also under strict -std=c11 */
#include "data/dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/parallel.h"

typedef struct ds_entry {
    char *name; /* relative to the root: "x.JPEG" or "class/x.JPEG"; "file[i]" for IDX */
    int label;
} ds_entry;

struct qp_dataset {
    char *root; /* folder, or the IDX images file */
    int is_idx;
    ds_entry *entries;
    int64_t n_entries;
    char **class_names; /* class sub-folders, in class-index order */
    int n_class_dirs;
    int num_classes;
    int64_t labelled;
    qp_preprocess pp;
    int channels, height, width;
    int threads;
    /* IDX: images as [N, H, W] or [N, H, W, C] uint8 */
    qp_idx idx_images;
    int idx_h, idx_w, idx_c;
};

void qp_dataset_config_init(qp_dataset_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    qp_preprocess_init(&cfg->preprocess);
}

/* ---- small helpers ---- */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_jpeg_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *const exts[] = {".jpg", ".jpeg", ".jpe", ".jfif"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0) return 1;
    return 0;
}

typedef struct str_list {
    char **items;
    int64_t n, cap;
} str_list;

static int str_list_push(str_list *l, char *s) {
    if (!s) return 0;
    if (l->n == l->cap) {
        int64_t ncap = l->cap ? l->cap * 2 : 64;
        char **ni = realloc(l->items, (size_t)ncap * sizeof *ni);
        if (!ni) {
            free(s);
            return 0;
        }
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = s;
    return 1;
}

static void str_list_free(str_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Lists a folder's JPEG files (want_dirs 0) or sub-folders (want_dirs 1), sorted, hidden skipped. */
static qp_status list_dir(const char *dir, int want_dirs, str_list *out) {
    DIR *d = opendir(dir);
    if (!d) return qp_error(QP_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    qp_status st = QP_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int is_dir, is_file;
        if (e->d_type == DT_DIR || e->d_type == DT_REG) {
            is_dir = e->d_type == DT_DIR;
            is_file = e->d_type == DT_REG;
        } else { /* DT_UNKNOWN on some file systems, or a symlink: ask stat */
            char *p = join_path(dir, e->d_name);
            struct stat sb;
            if (!p) {
                st = qp_error(QP_ERR_NOMEM, "%s: out of memory listing the folder", dir);
                break;
            }
            int ok = stat(p, &sb) == 0;
            free(p);
            is_dir = ok && S_ISDIR(sb.st_mode);
            is_file = ok && S_ISREG(sb.st_mode);
        }
        if (want_dirs ? !is_dir : !(is_file && is_jpeg_name(e->d_name))) continue;
        if (!str_list_push(out, dup_str(e->d_name))) {
            st = qp_error(QP_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
    }
    closedir(d);
    if (st == QP_OK && out->n > 1)
        qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_str_ptr);
    return st;
}

/* Reads a text file's meaningful lines (trimmed; blank and '#' lines dropped) with line numbers. */
typedef struct text_lines {
    str_list lines;
    int *numbers;
} text_lines;

static void text_lines_free(text_lines *t) {
    str_list_free(&t->lines);
    free(t->numbers);
    t->numbers = NULL;
}

static qp_status read_lines(const char *path, text_lines *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int number = 0, cap_numbers = 0;
    qp_status st = QP_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        number++;
        char *s = line;
        while (*s && isspace((unsigned char)*s)) s++;
        char *end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
        if (!*s || *s == '#') continue;
        if (out->lines.n >= cap_numbers) {
            cap_numbers = cap_numbers ? cap_numbers * 2 : 256;
            int *nn = realloc(out->numbers, (size_t)cap_numbers * sizeof *nn);
            if (!nn) {
                st = qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            out->numbers = nn;
        }
        out->numbers[out->lines.n] = number;
        if (!str_list_push(&out->lines, dup_str(s))) {
            st = qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
    }
    if (st == QP_OK && ferror(f)) st = qp_error(QP_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    if (st != QP_OK) text_lines_free(out);
    return st;
}

/* A name -> position index for lookups (names sorted with strcmp). */
typedef struct name_ref {
    const char *name;
    int64_t pos;
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static int64_t find_name(const name_ref *refs, int64_t n, const char *name) {
    name_ref key = {name, 0};
    const name_ref *hit = n ? bsearch(&key, refs, (size_t)n, sizeof *refs, cmp_name_ref) : NULL;
    return hit ? hit->pos : -1;
}

static name_ref *index_entries(const qp_dataset *ds) {
    name_ref *refs = malloc((size_t)(ds->n_entries ? ds->n_entries : 1) * sizeof *refs);
    if (!refs) return NULL;
    for (int64_t i = 0; i < ds->n_entries; i++) refs[i] = (name_ref){ds->entries[i].name, i};
    qsort(refs, (size_t)ds->n_entries, sizeof *refs, cmp_name_ref);
    return refs;
}

static qp_status add_entry(qp_dataset *ds, int64_t *cap, char *name, int label) {
    if (!name) return qp_error(QP_ERR_NOMEM, "out of memory building the dataset");
    if (ds->n_entries == *cap) {
        int64_t ncap = *cap ? *cap * 2 : 256;
        ds_entry *ne = realloc(ds->entries, (size_t)ncap * sizeof *ne);
        if (!ne) {
            free(name);
            return qp_error(QP_ERR_NOMEM, "out of memory building the dataset");
        }
        ds->entries = ne;
        *cap = ncap;
    }
    ds->entries[ds->n_entries++] = (ds_entry){name, label};
    return QP_OK;
}

/* ---- folder datasets ---- */

static qp_status scan_folder(qp_dataset *ds, qp_class_dirs mode, int labels_from_file) {
    str_list files = {0}, dirs = {0};
    int64_t cap = 0;
    qp_status st = QP_OK;
    if (mode != QP_CLASS_DIRS_YES && (st = list_dir(ds->root, 0, &files)) != QP_OK) goto done;
    if (mode == QP_CLASS_DIRS_YES || (mode == QP_CLASS_DIRS_AUTO && files.n == 0)) {
        if ((st = list_dir(ds->root, 1, &dirs)) != QP_OK) goto done;
    }
    if (dirs.n > 0) {
        if (dirs.n > INT_MAX / 2) {
            st = qp_error(QP_ERR_UNSUPPORTED, "%s: too many class folders", ds->root);
            goto done;
        }
        ds->class_names = dirs.items;
        ds->n_class_dirs = (int)dirs.n;
        dirs.items = NULL;
        dirs.n = 0;
        for (int c = 0; c < ds->n_class_dirs && st == QP_OK; c++) {
            char *sub = join_path(ds->root, ds->class_names[c]);
            str_list inner = {0};
            if (!sub) {
                st = qp_error(QP_ERR_NOMEM, "out of memory");
                break;
            }
            st = list_dir(sub, 0, &inner);
            free(sub);
            for (int64_t i = 0; i < inner.n && st == QP_OK; i++)
                st = add_entry(ds, &cap, join_path(ds->class_names[c], inner.items[i]),
                               labels_from_file ? -1 : c);
            str_list_free(&inner);
        }
    } else {
        for (int64_t i = 0; i < files.n && st == QP_OK; i++) {
            st = add_entry(ds, &cap, files.items[i], -1);
            files.items[i] = NULL;
        }
    }
    if (st == QP_OK && ds->n_entries == 0)
        st = qp_error(QP_ERR_IO, "%s: no JPEG images found (looked for .jpg .jpeg .jpe .jfif%s)",
                      ds->root, mode == QP_CLASS_DIRS_NO ? "" : ", also in class sub-folders");
done:
    str_list_free(&files);
    str_list_free(&dirs);
    return st;
}

static qp_status apply_list(qp_dataset *ds, const char *list_path) {
    text_lines lines;
    qp_status st = read_lines(list_path, &lines);
    if (st != QP_OK) return st;
    name_ref *refs = index_entries(ds);
    char *keep = calloc((size_t)(ds->n_entries ? ds->n_entries : 1), 1);
    if (!refs || !keep) {
        st = qp_error(QP_ERR_NOMEM, "%s: out of memory", list_path);
        goto done;
    }
    for (int64_t i = 0; i < lines.lines.n; i++) {
        char *name = lines.lines.items[i];
        int64_t pos = find_name(refs, ds->n_entries, name);
        if (pos < 0) {
            /* a "<file> <class>" labels file used as a list: take the first field */
            size_t len = strcspn(name, " \t");
            if (name[len]) {
                name[len] = '\0';
                pos = find_name(refs, ds->n_entries, name);
            }
        }
        if (pos < 0) {
            st = qp_error(QP_ERR_IO, "%s:%d: '%s' is not an image in %s", list_path,
                          lines.numbers[i], name, ds->root);
            goto done;
        }
        keep[pos] = 1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < ds->n_entries; i++) {
        if (keep[i]) ds->entries[n++] = ds->entries[i];
        else free(ds->entries[i].name);
    }
    ds->n_entries = n;
    if (n == 0) st = qp_error(QP_ERR_IO, "%s: the list names no images", list_path);
done:
    free(refs);
    free(keep);
    text_lines_free(&lines);
    return st;
}

static qp_status apply_labels_file(qp_dataset *ds, const char *labels_path) {
    text_lines lines;
    qp_status st = read_lines(labels_path, &lines);
    if (st != QP_OK) return st;
    name_ref *refs = index_entries(ds);
    int *seen_line = calloc((size_t)(ds->n_entries ? ds->n_entries : 1), sizeof *seen_line);
    if (!refs || !seen_line) {
        st = qp_error(QP_ERR_NOMEM, "%s: out of memory", labels_path);
        goto done;
    }
    for (int64_t i = 0; i < lines.lines.n; i++) {
        char *line = lines.lines.items[i];
        int number = lines.numbers[i];
        char *sep = line + strlen(line);
        while (sep > line && !isspace((unsigned char)sep[-1])) sep--;
        char *cls = sep, *end;
        while (sep > line && isspace((unsigned char)sep[-1])) sep--;
        errno = 0;
        long v = strtol(cls, &end, 10);
        if (sep == line || *end || end == cls || errno || v < 0 || v > INT_MAX / 2) {
            st = qp_error(QP_ERR_PARSE, "%s:%d: expected '<file> <class>' with a non-negative "
                          "integer class, got '%s'", labels_path, number, line);
            goto done;
        }
        *sep = '\0';
        int64_t pos = find_name(refs, ds->n_entries, line);
        if (pos < 0) continue; /* labels may cover more images than this set uses */
        if (seen_line[pos]) {
            st = qp_error(QP_ERR_PARSE, "%s:%d: '%s' is already labelled on line %d", labels_path,
                          number, line, seen_line[pos]);
            goto done;
        }
        seen_line[pos] = number;
        ds->entries[pos].label = (int)v;
    }
done:
    free(refs);
    free(seen_line);
    text_lines_free(&lines);
    return st;
}

/* ---- IDX datasets ---- */

static qp_status open_idx(qp_dataset *ds, const qp_dataset_config *cfg) {
    qp_status st = qp_idx_read(cfg->images, cfg->count > 0 ? cfg->count : 0, &ds->idx_images);
    if (st != QP_OK) return st;
    const qp_shape *s = &ds->idx_images.shape;
    if (ds->idx_images.dtype != QP_DT_UINT8 || (s->rank != 3 && s->rank != 4) ||
        (s->rank == 4 && s->dims[3] != 1 && s->dims[3] != 3))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: IDX images must be unsigned bytes shaped "
                        "[N,H,W] or [N,H,W,C] with C 1 or 3", cfg->images);
    if (s->dims[1] <= 0 || s->dims[2] <= 0 || s->dims[1] > 65535 || s->dims[2] > 65535)
        return qp_error(QP_ERR_PARSE, "%s: IDX image size %lldx%lld is out of range", cfg->images,
                        (long long)s->dims[1], (long long)s->dims[2]);
    ds->idx_h = (int)s->dims[1];
    ds->idx_w = (int)s->dims[2];
    ds->idx_c = s->rank == 4 ? (int)s->dims[3] : 1;
    int64_t n = s->dims[0];
    if (n == 0) return qp_error(QP_ERR_IO, "%s: the IDX file holds no images", cfg->images);
    const char *base = strrchr(cfg->images, '/');
    base = base ? base + 1 : cfg->images;
    ds->entries = calloc((size_t)n, sizeof *ds->entries);
    if (!ds->entries) return qp_error(QP_ERR_NOMEM, "%s: out of memory", cfg->images);
    for (int64_t i = 0; i < n; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s[%lld]", base, (long long)i);
        ds->entries[i].label = -1;
        if (!(ds->entries[i].name = dup_str(buf)))
            return qp_error(QP_ERR_NOMEM, "%s: out of memory", cfg->images);
        ds->n_entries = i + 1;
    }
    if (cfg->labels) {
        qp_idx labels;
        if ((st = qp_idx_read(cfg->labels, n, &labels)) != QP_OK) return st;
        if (labels.shape.rank != 1 ||
            (labels.dtype != QP_DT_UINT8 && labels.dtype != QP_DT_INT8 && labels.dtype != QP_DT_INT32)) {
            qp_idx_free(&labels);
            return qp_error(QP_ERR_UNSUPPORTED, "%s: IDX labels must be a rank-1 array of bytes or "
                            "int32", cfg->labels);
        }
        if (labels.shape.dims[0] < n) {
            qp_idx_free(&labels);
            return qp_error(QP_ERR_SHAPE, "%s: %lld labels for %lld images in %s", cfg->labels,
                            (long long)labels.shape.dims[0], (long long)n, cfg->images);
        }
        for (int64_t i = 0; i < n; i++) {
            int v = labels.dtype == QP_DT_UINT8 ? ((const uint8_t *)labels.data)[i]
                    : labels.dtype == QP_DT_INT8 ? ((const int8_t *)labels.data)[i]
                                                 : ((const int32_t *)labels.data)[i];
            ds->entries[i].label = v < 0 ? -1 : v;
        }
        qp_idx_free(&labels);
    }
    return QP_OK;
}

/* ---- open/close ---- */

static qp_status decide_sample_size(qp_dataset *ds) {
    int h, w;
    if (qp_preprocess_fixed_size(&ds->pp, &h, &w)) {
        ds->height = h;
        ds->width = w;
        return QP_OK;
    }
    qp_geometry g;
    qp_status st;
    if (ds->is_idx) {
        if ((st = qp_preprocess_geometry(&ds->pp, ds->idx_w, ds->idx_h, &g)) != QP_OK)
            return qp_error_prefix(st, "%s: ", ds->root);
    } else {
        /* the size follows the images: take the first one whose header reads */
        st = QP_ERR_IO;
        for (int64_t i = 0; i < ds->n_entries && st != QP_OK; i++) {
            char *path = join_path(ds->root, ds->entries[i].name);
            int iw, ih;
            if (!path) return qp_error(QP_ERR_NOMEM, "out of memory");
            st = qp_image_jpeg_info(path, &iw, &ih, NULL);
            if (st == QP_OK) {
                st = qp_preprocess_geometry(&ds->pp, iw, ih, &g);
                if (st != QP_OK) qp_error_prefix(st, "%s: ", path);
            }
            free(path);
            if (st == QP_ERR_SHAPE || st == QP_ERR_INVALID_ARG) return st;
        }
        if (st != QP_OK)
            return qp_error(QP_ERR_IO, "%s: no readable image to take the sample size from",
                            ds->root);
    }
    ds->height = g.crop_h;
    ds->width = g.crop_w;
    return QP_OK;
}

qp_status qp_dataset_open(const qp_dataset_config *cfg, qp_dataset **out) {
    *out = NULL;
    if (!cfg || !cfg->images || !*cfg->images)
        return qp_error(QP_ERR_INVALID_ARG, "dataset: no images folder or IDX file given");
    qp_status st = qp_preprocess_validate(&cfg->preprocess);
    if (st != QP_OK) return st;
    if (cfg->count < 0)
        return qp_error(QP_ERR_INVALID_ARG, "dataset: count %lld is negative", (long long)cfg->count);
    struct stat sb;
    if (stat(cfg->images, &sb) != 0)
        return qp_error(QP_ERR_IO, "%s: %s", cfg->images, strerror(errno));
    qp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->root = dup_str(cfg->images))) {
        free(ds);
        return qp_error(QP_ERR_NOMEM, "dataset: out of memory");
    }
    ds->pp = cfg->preprocess;
    ds->channels = qp_preprocess_channels(&ds->pp);
    ds->threads = cfg->threads > 0 ? cfg->threads : qp_cpu_count();
    if (S_ISDIR(sb.st_mode)) {
        st = scan_folder(ds, cfg->class_dirs, cfg->labels != NULL);
        if (st == QP_OK && cfg->list) st = apply_list(ds, cfg->list);
        if (st == QP_OK && cfg->labels) st = apply_labels_file(ds, cfg->labels);
        if (st == QP_OK && cfg->count > 0 && ds->n_entries > cfg->count) {
            for (int64_t i = cfg->count; i < ds->n_entries; i++) free(ds->entries[i].name);
            ds->n_entries = cfg->count;
        }
    } else {
        ds->is_idx = 1;
        if (cfg->list)
            st = qp_error(QP_ERR_INVALID_ARG, "%s: a list file applies to image folders, not IDX "
                          "files", cfg->images);
        else
            st = open_idx(ds, cfg);
    }
    if (st == QP_OK) st = decide_sample_size(ds);
    if (st != QP_OK) {
        qp_dataset_close(ds);
        return st;
    }
    int max_label = -1;
    for (int64_t i = 0; i < ds->n_entries; i++) {
        if (ds->entries[i].label >= 0) ds->labelled++;
        if (ds->entries[i].label > max_label) max_label = ds->entries[i].label;
    }
    ds->num_classes = ds->n_class_dirs > 0 && !cfg->labels ? ds->n_class_dirs : max_label + 1;
    *out = ds;
    return QP_OK;
}

void qp_dataset_close(qp_dataset *ds) {
    if (!ds) return;
    for (int64_t i = 0; i < ds->n_entries; i++) free(ds->entries[i].name);
    free(ds->entries);
    for (int c = 0; c < ds->n_class_dirs; c++) free(ds->class_names[c]);
    free(ds->class_names);
    qp_idx_free(&ds->idx_images);
    free(ds->root);
    free(ds);
}

int64_t qp_dataset_size(const qp_dataset *ds) { return ds->n_entries; }

void qp_dataset_sample_shape(const qp_dataset *ds, int *channels, int *height, int *width) {
    if (channels) *channels = ds->channels;
    if (height) *height = ds->height;
    if (width) *width = ds->width;
}

const qp_preprocess *qp_dataset_preprocess(const qp_dataset *ds) { return &ds->pp; }

const char *qp_dataset_name(const qp_dataset *ds, int64_t index) {
    return index >= 0 && index < ds->n_entries ? ds->entries[index].name : NULL;
}

int qp_dataset_label(const qp_dataset *ds, int64_t index) {
    return index >= 0 && index < ds->n_entries ? ds->entries[index].label : -1;
}

int64_t qp_dataset_labelled_count(const qp_dataset *ds) { return ds->labelled; }

int qp_dataset_num_classes(const qp_dataset *ds) { return ds->num_classes; }

const char *qp_dataset_class_name(const qp_dataset *ds, int class_index) {
    return class_index >= 0 && class_index < ds->n_class_dirs ? ds->class_names[class_index] : NULL;
}

static size_t sample_numel(const qp_dataset *ds) {
    return (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
}

qp_status qp_dataset_load(const qp_dataset *ds, int64_t index, float *out) {
    if (index < 0 || index >= ds->n_entries)
        return qp_error(QP_ERR_INVALID_ARG, "%s: sample %lld is out of range 0..%lld", ds->root,
                        (long long)index, (long long)ds->n_entries - 1);
    if (ds->is_idx) {
        size_t plane = (size_t)ds->idx_h * (size_t)ds->idx_w * (size_t)ds->idx_c;
        qp_image view = {ds->idx_w, ds->idx_h, ds->idx_c,
                         (uint8_t *)ds->idx_images.data + (size_t)index * plane};
        return qp_preprocess_image(&ds->pp, &view, ds->entries[index].name, out, ds->height,
                                   ds->width);
    }
    char *path = join_path(ds->root, ds->entries[index].name);
    if (!path) return qp_error(QP_ERR_NOMEM, "out of memory");
    qp_status st = qp_preprocess_jpeg(&ds->pp, path, out, ds->height, ds->width);
    free(path);
    return st;
}

/* ---- iteration ---- */

struct qp_dataset_iter {
    qp_dataset *ds;
    int batch_size;
    int64_t cursor;
    size_t numel;
    float *data;
    int *labels;
    int64_t *indices;
    char **failure;   /* per slot: the error message of a failed load, or NULL */
    str_list skipped_names;
    str_list skipped_reasons;
};

qp_status qp_dataset_iter_new(qp_dataset *ds, int batch_size, qp_dataset_iter **out) {
    *out = NULL;
    if (!ds || batch_size <= 0)
        return qp_error(QP_ERR_INVALID_ARG, "dataset: batch size %d must be positive", batch_size);
    qp_dataset_iter *it = calloc(1, sizeof *it);
    if (!it) return qp_error(QP_ERR_NOMEM, "dataset: out of memory");
    it->ds = ds;
    it->batch_size = batch_size;
    it->numel = sample_numel(ds);
    if (it->numel && (size_t)batch_size > SIZE_MAX / sizeof(float) / it->numel) {
        free(it);
        return qp_error(QP_ERR_NOMEM, "dataset: batch of %d samples is too large", batch_size);
    }
    it->data = malloc((size_t)batch_size * it->numel * sizeof(float));
    it->labels = malloc((size_t)batch_size * sizeof *it->labels);
    it->indices = malloc((size_t)batch_size * sizeof *it->indices);
    it->failure = calloc((size_t)batch_size, sizeof *it->failure);
    if (!it->data || !it->labels || !it->indices || !it->failure) {
        qp_dataset_iter_free(it);
        return qp_error(QP_ERR_NOMEM, "dataset: out of memory for a batch of %d samples",
                        batch_size);
    }
    *out = it;
    return QP_OK;
}

void qp_dataset_iter_free(qp_dataset_iter *it) {
    if (!it) return;
    free(it->data);
    free(it->labels);
    free(it->indices);
    if (it->failure)
        for (int i = 0; i < it->batch_size; i++) free(it->failure[i]);
    free(it->failure);
    str_list_free(&it->skipped_names);
    str_list_free(&it->skipped_reasons);
    free(it);
}

void qp_dataset_iter_rewind(qp_dataset_iter *it) {
    it->cursor = 0;
    str_list_free(&it->skipped_names);
    str_list_free(&it->skipped_reasons);
}

typedef struct load_job {
    qp_dataset_iter *it;
    int first_slot;
    int64_t first_index;
} load_job;

static void load_range(void *user, int64_t begin, int64_t end) {
    load_job *job = user;
    qp_dataset_iter *it = job->it;
    for (int64_t j = begin; j < end; j++) {
        int slot = job->first_slot + (int)j;
        qp_status st = qp_dataset_load(it->ds, job->first_index + j,
                                       it->data + (size_t)slot * it->numel);
        /* messages are per thread: copy it out while still on the thread that made it */
        if (st != QP_OK) {
            it->failure[slot] = dup_str(qp_error_message());
            if (!it->failure[slot]) it->failure[slot] = dup_str("");
        }
    }
}

qp_status qp_dataset_iter_next(qp_dataset_iter *it, qp_batch *batch) {
    qp_dataset *ds = it->ds;
    int n = 0;
    qp_status st = QP_OK;
    while (n < it->batch_size && it->cursor < ds->n_entries) {
        int64_t left = ds->n_entries - it->cursor;
        int k = (int64_t)(it->batch_size - n) < left ? it->batch_size - n : (int)left;
        load_job job = {it, n, it->cursor};
        qp_parallel_for(ds->threads, k, load_range, &job);
        int w = n;
        for (int j = 0; j < k; j++) {
            int slot = n + j;
            int64_t index = it->cursor + j;
            if (it->failure[slot]) {
                char *reason = it->failure[slot];
                it->failure[slot] = NULL;
                if (st != QP_OK) {
                    free(reason);
                } else if (!str_list_push(&it->skipped_names, dup_str(ds->entries[index].name))) {
                    free(reason);
                    st = qp_error(QP_ERR_NOMEM, "dataset: out of memory recording a skipped image");
                } else if (!str_list_push(&it->skipped_reasons, reason)) { /* push freed reason */
                    free(it->skipped_names.items[--it->skipped_names.n]);
                    st = qp_error(QP_ERR_NOMEM, "dataset: out of memory recording a skipped image");
                }
                continue;
            }
            if (w != slot)
                memmove(it->data + (size_t)w * it->numel, it->data + (size_t)slot * it->numel,
                        it->numel * sizeof(float));
            it->labels[w] = ds->entries[index].label;
            it->indices[w] = index;
            w++;
        }
        n = w;
        it->cursor += k;
        if (st != QP_OK) break;
    }
    batch->n = n;
    batch->channels = ds->channels;
    batch->height = ds->height;
    batch->width = ds->width;
    batch->data = it->data;
    batch->labels = it->labels;
    batch->indices = it->indices;
    return st;
}

int64_t qp_dataset_iter_skipped(const qp_dataset_iter *it) { return it->skipped_reasons.n; }

const char *qp_dataset_iter_skipped_name(const qp_dataset_iter *it, int64_t i) {
    return i >= 0 && i < it->skipped_names.n ? it->skipped_names.items[i] : NULL;
}

const char *qp_dataset_iter_skipped_reason(const qp_dataset_iter *it, int64_t i) {
    return i >= 0 && i < it->skipped_reasons.n ? it->skipped_reasons.items[i] : NULL;
}
