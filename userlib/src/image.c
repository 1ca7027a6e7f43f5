/*
 * The image reader: open an image file, check every rule of the format of
 * <spice/snapshot.h>, copy its metadata, and hand out its records.
 *
 * Everything is checked at open, so the accessors only copy. The checks go
 * in the order that lets each one trust what was checked before it:
 *
 *   1. the header's magic, version and header_size, and the place of the
 *      section table in the file: enough to read the table;
 *   2. the header checksum over the header and the table;
 *   3. the other header fields and the file size;
 *   4. every descriptor alone, then their overlaps, then the required set;
 *   5. every section's checksum, as it is read;
 *   6. the records, in the order of their references: strings, task, mm,
 *      files, VMAs (which name files), extents (which name VMAs), fds
 *      (which name files), auxv.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Limits of the format that <spice/snapshot.h> has no constant for. */
#define MAX_HEADER_SIZE		4096
#define MAX_SECTION_SIZE	256
#define MAX_ENTRY_SIZE		4096
#define NR_SIGACTIONS		64
#define MAX_RLIMITS		16
/* The x86_64 user address space ends here (TASK_SIZE_MAX, 4-level paging). */
#define TASK_SIZE_MAX		0x7ffffffff000ULL

#define NR_TYPES		(SNAPSHOT_SECTION_FILE_WS + 1)

#define IMAGE_FLAGS	(SNAPSHOT_IMAGE_SELF | SNAPSHOT_IMAGE_WORKING_SET)
#define VMA_FLAGS	((SNAPSHOT_VMA_ACCOUNT << 1) - 1)
#define VMA_PROT	(PROT_READ | PROT_WRITE | PROT_EXEC)
#define MM_FLAGS	(SNAPSHOT_MM_LOCK_FUTURE | SNAPSHOT_MM_LOCK_ONFAULT)
#define FD_OPEN_FLAGS	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | \
			 O_NOATIME | O_SYNC | O_DSYNC | O_PATH)

/* Where the image is: a file (@fd) or a buffer (@mem) of @size bytes. */
struct source {
	int fd;
	const unsigned char *mem;
	uint64_t size;
};

/* A known section, copied. */
struct section {
	unsigned char *data;	/* @size bytes; NULL if the section is absent */
	uint64_t size;
	uint32_t entry_size;
	uint32_t nr;
};

struct spice_image {
	struct source src;
	struct snapshot_image_header hdr;
	struct snapshot_image_section *descs;
	size_t nr_descs;
	struct section sec[NR_TYPES];
	uint64_t page_mask;
};

/* ---- errors ------------------------------------------------------------ */

static int errno_of(int code)
{
	switch (code) {
	case SPICE_IMAGE_E_NONE:
		return 0;
	case SPICE_IMAGE_E_NOMEM:
		return -ENOMEM;
	case SPICE_IMAGE_E_MAGIC:
		return -ENOEXEC;
	case SPICE_IMAGE_E_VERSION:
	case SPICE_IMAGE_E_ARCH:
	case SPICE_IMAGE_E_PAGE_SIZE:
	case SPICE_IMAGE_E_UNKNOWN_SECTION:
		return -EOPNOTSUPP;
	case SPICE_IMAGE_E_CSUM:
		return -EBADMSG;
	case SPICE_IMAGE_E_IO:
		return -EIO;
	default:
		return -EINVAL;
	}
}

/*
 * Fill in *@err, if there is one, and return @ret: the errno of @code when
 * @ret is 0.
 */
__attribute__((format(printf, 4, 5)))
static int fail_errno(struct spice_image_error *err, int code, int ret,
		      const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return ret ? ret : errno_of(code);
}

#define fail(err, code, ...)	fail_errno(err, code, 0, __VA_ARGS__)

static void no_error(struct spice_image_error *err)
{
	if (err) {
		err->code = SPICE_IMAGE_E_NONE;
		err->msg[0] = '\0';
	}
}

/* ---- names ------------------------------------------------------------- */

SPICE_EXPORT const char *spice_image_section_name(uint32_t type)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:		return "task";
	case SNAPSHOT_SECTION_MM:		return "mm";
	case SNAPSHOT_SECTION_VMAS:		return "vmas";
	case SNAPSHOT_SECTION_EXTENTS:		return "extents";
	case SNAPSHOT_SECTION_FILES:		return "files";
	case SNAPSHOT_SECTION_FDS:		return "fds";
	case SNAPSHOT_SECTION_REGS:		return "regs";
	case SNAPSHOT_SECTION_XSAVE:		return "xsave";
	case SNAPSHOT_SECTION_SIGACTIONS:	return "sigactions";
	case SNAPSHOT_SECTION_RLIMITS:		return "rlimits";
	case SNAPSHOT_SECTION_AUXV:		return "auxv";
	case SNAPSHOT_SECTION_STRINGS:		return "strings";
	case SNAPSHOT_SECTION_FILE_WS:		return "file_ws";
	}
	return NULL;
}

SPICE_EXPORT const char *spice_image_reason_name(uint32_t code)
{
	switch (code) {
	case SNAPSHOT_REASON_THREADS:		return "threads";
	case SNAPSHOT_REASON_PTRACED:		return "ptraced";
	case SNAPSHOT_REASON_FD_SOCKET:		return "fd_socket";
	case SNAPSHOT_REASON_FD_PIPE:		return "fd_pipe";
	case SNAPSHOT_REASON_FD_IO_URING:	return "fd_io_uring";
	case SNAPSHOT_REASON_FD_USERFAULTFD:	return "fd_userfaultfd";
	case SNAPSHOT_REASON_FD_UNLINKED:	return "fd_unlinked";
	case SNAPSHOT_REASON_FD_OTHER:		return "fd_other";
	case SNAPSHOT_REASON_VMA_HUGETLB:	return "vma_hugetlb";
	case SNAPSHOT_REASON_VMA_SYSV_SHM:	return "vma_sysv_shm";
	case SNAPSHOT_REASON_VMA_SPECIAL:	return "vma_special";
	case SNAPSHOT_REASON_VMA_UNLINKED:	return "vma_unlinked";
	case SNAPSHOT_REASON_VMA_USERFAULTFD:	return "vma_userfaultfd";
	case SNAPSHOT_REASON_AIO:		return "aio";
	case SNAPSHOT_REASON_VMA_OTHER:		return "vma_other";
	}
	return NULL;
}

/* "section 3 (vmas)" or "section 3 (type 99)", for messages. */
static const char *desc_name(const struct snapshot_image_section *d, size_t i,
			     char *buf, size_t size)
{
	const char *name = spice_image_section_name(d->type);

	if (name)
		snprintf(buf, size, "section %zu (%s)", i, name);
	else
		snprintf(buf, size, "section %zu (type %u)", i, d->type);
	return buf;
}

/* ---- what each section type is ------------------------------------------ */

/* Size of the record the type holds as this reader knows it; 0 for blobs. */
static uint32_t record_size(uint32_t type)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:	return sizeof(struct snapshot_image_task);
	case SNAPSHOT_SECTION_MM:	return sizeof(struct snapshot_image_mm);
	case SNAPSHOT_SECTION_VMAS:	return sizeof(struct snapshot_image_vma);
	case SNAPSHOT_SECTION_EXTENTS:	return sizeof(struct snapshot_image_extent);
	case SNAPSHOT_SECTION_FILES:	return sizeof(struct snapshot_image_file);
	case SNAPSHOT_SECTION_FDS:	return sizeof(struct snapshot_image_fd);
	case SNAPSHOT_SECTION_REGS:	return sizeof(struct snapshot_image_regs);
	case SNAPSHOT_SECTION_SIGACTIONS:
		return sizeof(struct snapshot_image_sigaction);
	case SNAPSHOT_SECTION_RLIMITS:	return sizeof(struct snapshot_image_rlimit);
	case SNAPSHOT_SECTION_AUXV:	return sizeof(uint64_t);
	case SNAPSHOT_SECTION_FILE_WS:
		return sizeof(struct snapshot_image_file_ws);
	}
	return 0;
}

/* The smallest entry_size a writer may use: the record's first version. */
static uint32_t record_size_ver0(uint32_t type)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:	return SNAPSHOT_IMAGE_TASK_SIZE_VER0;
	case SNAPSHOT_SECTION_MM:	return SNAPSHOT_IMAGE_MM_SIZE_VER0;
	case SNAPSHOT_SECTION_VMAS:	return SNAPSHOT_IMAGE_VMA_SIZE_VER0;
	case SNAPSHOT_SECTION_EXTENTS:	return SNAPSHOT_IMAGE_EXTENT_SIZE_VER0;
	case SNAPSHOT_SECTION_FILES:	return SNAPSHOT_IMAGE_FILE_SIZE_VER0;
	case SNAPSHOT_SECTION_FDS:	return SNAPSHOT_IMAGE_FD_SIZE_VER0;
	case SNAPSHOT_SECTION_REGS:	return SNAPSHOT_IMAGE_REGS_SIZE_VER0;
	case SNAPSHOT_SECTION_SIGACTIONS:
		return SNAPSHOT_IMAGE_SIGACTION_SIZE_VER0;
	case SNAPSHOT_SECTION_RLIMITS:	return SNAPSHOT_IMAGE_RLIMIT_SIZE_VER0;
	case SNAPSHOT_SECTION_AUXV:	return sizeof(uint64_t);
	case SNAPSHOT_SECTION_FILE_WS:	return SNAPSHOT_IMAGE_FILE_WS_SIZE_VER0;
	}
	return 0;
}

/* Most records a section of the type may hold, or bytes for a blob. */
static uint64_t max_count(uint32_t type)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:
	case SNAPSHOT_SECTION_MM:
	case SNAPSHOT_SECTION_REGS:
		return 1;
	case SNAPSHOT_SECTION_VMAS:	return SNAPSHOT_IMAGE_MAX_VMAS;
	case SNAPSHOT_SECTION_EXTENTS:	return SNAPSHOT_IMAGE_MAX_EXTENTS;
	case SNAPSHOT_SECTION_FILES:	return SNAPSHOT_IMAGE_MAX_FILES;
	case SNAPSHOT_SECTION_FDS:	return SNAPSHOT_IMAGE_MAX_FDS;
	case SNAPSHOT_SECTION_SIGACTIONS: return NR_SIGACTIONS;
	case SNAPSHOT_SECTION_RLIMITS:	return MAX_RLIMITS;
	case SNAPSHOT_SECTION_AUXV:	return SNAPSHOT_IMAGE_MAX_BLOB / 8;
	case SNAPSHOT_SECTION_XSAVE:	return SNAPSHOT_IMAGE_MAX_BLOB;
	case SNAPSHOT_SECTION_STRINGS:	return SNAPSHOT_IMAGE_MAX_STRINGS;
	case SNAPSHOT_SECTION_FILE_WS:	return SNAPSHOT_IMAGE_MAX_EXTENTS;
	}
	return 0;
}

/* Fewest records: every known type is required. */
static uint64_t min_count(uint32_t type)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:
	case SNAPSHOT_SECTION_MM:
	case SNAPSHOT_SECTION_REGS:
	case SNAPSHOT_SECTION_RLIMITS:
		return 1;
	case SNAPSHOT_SECTION_SIGACTIONS:
		return NR_SIGACTIONS;
	case SNAPSHOT_SECTION_AUXV:
		return 2;	/* the AT_NULL pair */
	}
	return 0;
}

static int is_known(uint32_t type)
{
	return type >= SNAPSHOT_SECTION_TASK && type <= SNAPSHOT_SECTION_FILE_WS;
}

/* A section an image may lack: it then reads as empty. */
static int is_optional(uint32_t type)
{
	return type == SNAPSHOT_SECTION_FILE_WS;
}

static int is_blob(uint32_t type)
{
	return type == SNAPSHOT_SECTION_XSAVE ||
	       type == SNAPSHOT_SECTION_STRINGS;
}

/* ---- reading ------------------------------------------------------------ */

/* Read @len bytes at @off, which the caller has checked are in the source. */
static int source_read(const struct source *src, uint64_t off, void *buf,
		       size_t len)
{
	unsigned char *p = buf;

	if (src->mem) {
		if (len)
			memcpy(p, src->mem + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(src->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* the file shrank */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* strerror(), thread-safe. */
static const char *error_text(int error, char *buf, size_t size)
{
	return strerror_r(error, buf, size);
}

static int read_fail(struct spice_image_error *err, int ret, const char *what,
		     uint64_t off)
{
	char buf[64];

	return fail_errno(err, SPICE_IMAGE_E_IO, ret, "%s at offset %llu: %s",
			  what, (unsigned long long)off,
			  error_text(-ret, buf, sizeof(buf)));
}

/* CRC32C of @len bytes at @off of the file, read in chunks. */
static int source_crc(const struct source *src, uint64_t off, uint64_t len,
		      uint32_t *crc)
{
	unsigned char buf[16384];
	uint32_t c = 0;
	int ret;

	if (src->mem) {
		*crc = spice__crc32c(0, src->mem + off, (size_t)len);
		return 0;
	}
	while (len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		ret = source_read(src, off, buf, n);
		if (ret)
			return ret;
		c = spice__crc32c(c, buf, n);
		off += n;
		len -= n;
	}
	*crc = c;
	return 0;
}

static int all_zero(const unsigned char *p, size_t len)
{
	while (len--)
		if (*p++)
			return 0;
	return 1;
}

/*
 * Record @i of the known section @type into @out (@size bytes), zero-filled
 * past the section's entry_size.
 */
static void copy_record(const struct spice_image *img, uint32_t type,
			size_t i, void *out, size_t size)
{
	const struct section *s = &img->sec[type];
	size_t n = s->entry_size < size ? s->entry_size : size;

	memcpy(out, s->data + i * s->entry_size, n);
	memset((unsigned char *)out + n, 0, size - n);
}

#define RECORD(img, type, i, out)	copy_record(img, type, i, out, sizeof(*(out)))

/* ---- the checks ----------------------------------------------------------- */

struct check {
	struct spice_image *img;
	struct spice_image_error *err;
	uint64_t table_end;
};

static int check_header(struct check *c)
{
	struct spice_image *img = c->img;
	struct snapshot_image_header *h = &img->hdr;
	struct spice_image_error *err = c->err;
	long page;
	int saved_errno = errno;

	if (h->arch != SNAPSHOT_ARCH_X86_64)
		return fail(err, SPICE_IMAGE_E_ARCH,
			    "header: arch %u not supported (x86_64 is %u)",
			    h->arch, SNAPSHOT_ARCH_X86_64);
	page = sysconf(_SC_PAGESIZE);
	errno = saved_errno;
	if (page <= 0 || (unsigned long)page != h->page_size)
		return fail(err, SPICE_IMAGE_E_PAGE_SIZE,
			    "header: page_size %u is not this system's (%ld)",
			    h->page_size, page);
	img->page_mask = (uint64_t)page - 1;

	if (h->flags & ~(uint32_t)IMAGE_FLAGS)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: unknown flags %#x",
			    h->flags & ~(uint32_t)IMAGE_FLAGS);
	if (h->data_off & img->page_mask)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: data_off %#llx not page aligned",
			    (unsigned long long)h->data_off);
	if (h->data_size > UINT64_MAX - h->data_off ||
	    h->data_off + h->data_size != h->image_size)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: data_off %llu + data_size %llu is not image_size %llu",
			    (unsigned long long)h->data_off,
			    (unsigned long long)h->data_size,
			    (unsigned long long)h->image_size);
	if (h->image_size != img->src.size)
		return fail(err, SPICE_IMAGE_E_SIZE,
			    "header: image_size %llu but the file has %llu bytes",
			    (unsigned long long)h->image_size,
			    (unsigned long long)img->src.size);
	if (h->ws_size & img->page_mask)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: ws_size %#llx not page aligned",
			    (unsigned long long)h->ws_size);
	if (h->ws_size > h->data_size)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: ws_size %llu larger than data_size %llu",
			    (unsigned long long)h->ws_size,
			    (unsigned long long)h->data_size);
	if (h->ws_size && !(h->flags & SNAPSHOT_IMAGE_WORKING_SET))
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: ws_size %llu without the WORKING_SET flag",
			    (unsigned long long)h->ws_size);
	if (c->table_end > h->data_off)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "section table: ends at %llu, past data_off %llu",
			    (unsigned long long)c->table_end,
			    (unsigned long long)h->data_off);
	return 0;
}

/* The checks of descriptor @i that need nothing but itself. */
static int check_desc(struct check *c, size_t i)
{
	const struct spice_image *img = c->img;
	const struct snapshot_image_section *d = &img->descs[i];
	struct spice_image_error *err = c->err;
	uint32_t type = d->type;
	uint64_t end;
	char name[48];

	desc_name(d, i, name, sizeof(name));
	if (!is_known(type) && (d->flags & SNAPSHOT_SECTION_REQUIRED))
		return fail(err, SPICE_IMAGE_E_UNKNOWN_SECTION,
			    "%s: unknown section type marked required", name);
	if (d->flags & ~(uint32_t)SNAPSHOT_SECTION_REQUIRED)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: unknown flags %#x", name,
			    d->flags & ~(uint32_t)SNAPSHOT_SECTION_REQUIRED);
	if (d->reserved)
		return fail(err, SPICE_IMAGE_E_RESERVED,
			    "%s: reserved field %#x not zero", name,
			    d->reserved);
	if (d->offset & 7)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: offset %llu not 8-byte aligned", name,
			    (unsigned long long)d->offset);
	if (d->offset < img->hdr.header_size)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: offset %llu overlaps the header", name,
			    (unsigned long long)d->offset);
	if (d->size > UINT64_MAX - d->offset ||
	    (end = d->offset + d->size) > img->hdr.data_off)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: [%llu, +%llu) extends past data_off %llu",
			    name, (unsigned long long)d->offset,
			    (unsigned long long)d->size,
			    (unsigned long long)img->hdr.data_off);
	if (d->size && d->offset < c->table_end &&
	    end > img->hdr.sections_off)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: overlaps the section table", name);

	if (!is_known(type)) {
		/* Unknown: only the shape every section has. */
		if ((d->entry_size || d->nr_entries) &&
		    (uint64_t)d->entry_size * d->nr_entries != d->size)
			return fail(err, SPICE_IMAGE_E_SECTION,
				    "%s: size %llu is not entry_size %u * nr_entries %u",
				    name, (unsigned long long)d->size,
				    d->entry_size, d->nr_entries);
		return 0;
	}

	if (is_blob(type)) {
		if (d->entry_size || d->nr_entries)
			return fail(err, SPICE_IMAGE_E_SECTION,
				    "%s: a blob with entry_size %u, nr_entries %u",
				    name, d->entry_size, d->nr_entries);
		if (d->size > max_count(type))
			return fail(err, SPICE_IMAGE_E_SECTION,
				    "%s: size %llu over the limit of %llu", name,
				    (unsigned long long)d->size,
				    (unsigned long long)max_count(type));
		return 0;
	}

	if (type == SNAPSHOT_SECTION_AUXV) {
		if (d->entry_size != sizeof(uint64_t))
			return fail(err, SPICE_IMAGE_E_SECTION,
				    "%s: entry_size %u, not 8", name,
				    d->entry_size);
	} else if (d->entry_size < record_size_ver0(type) ||
		   d->entry_size > MAX_ENTRY_SIZE) {
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: entry_size %u out of range [%u, %u]", name,
			    d->entry_size, record_size_ver0(type),
			    MAX_ENTRY_SIZE);
	}
	/* u32 * u32 fits in a u64. */
	if ((uint64_t)d->entry_size * d->nr_entries != d->size)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: size %llu is not entry_size %u * nr_entries %u",
			    name, (unsigned long long)d->size, d->entry_size,
			    d->nr_entries);
	if (d->nr_entries > max_count(type) || d->nr_entries < min_count(type)) {
		if (min_count(type) == max_count(type))
			return fail(err, SPICE_IMAGE_E_SECTION,
				    "%s: %u entries, not %llu", name,
				    d->nr_entries,
				    (unsigned long long)max_count(type));
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "%s: %u entries, outside [%llu, %llu]", name,
			    d->nr_entries,
			    (unsigned long long)min_count(type),
			    (unsigned long long)max_count(type));
	}
	return 0;
}

static int cmp_u64_pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Descriptors: each alone, no type twice, no overlaps, nothing missing. */
static int check_descs(struct check *c)
{
	const struct spice_image *img = c->img;
	struct spice_image_error *err = c->err;
	uint64_t order[SNAPSHOT_IMAGE_MAX_SECTIONS][2];
	size_t seen[NR_TYPES];
	size_t i, j, k, n = img->nr_descs;
	char name[48], other[48];
	uint32_t t;
	int ret;

	for (t = 0; t < NR_TYPES; t++)
		seen[t] = SIZE_MAX;
	for (i = 0; i < n; i++) {
		const struct snapshot_image_section *d = &img->descs[i];

		ret = check_desc(c, i);
		if (ret)
			return ret;
		for (j = 0; j < i; j++)
			if (img->descs[j].type == d->type)
				return fail(err, SPICE_IMAGE_E_SECTION,
					    "%s: type appears again (first as section %zu)",
					    desc_name(d, i, name, sizeof(name)),
					    j);
		if (is_known(d->type))
			seen[d->type] = i;
		order[i][0] = d->offset;
		order[i][1] = i;
	}

	/*
	 * Sorted by offset, the first overlap is between a section and the
	 * non-empty one before it.
	 */
	qsort(order, n, sizeof(order[0]), cmp_u64_pair);
	for (k = 0, j = SIZE_MAX; k < n; k++) {
		const struct snapshot_image_section *d, *p;

		i = (size_t)order[k][1];
		d = &img->descs[i];
		if (!d->size)
			continue;
		if (j != SIZE_MAX) {
			p = &img->descs[j];
			if (d->offset < p->offset + p->size)
				return fail(err, SPICE_IMAGE_E_SECTION,
					    "%s: overlaps %s",
					    desc_name(d, i, name, sizeof(name)),
					    desc_name(p, j, other,
						      sizeof(other)));
		}
		j = i;
	}

	for (t = SNAPSHOT_SECTION_TASK; t < NR_TYPES; t++)
		if (seen[t] == SIZE_MAX && !is_optional(t))
			return fail(err, SPICE_IMAGE_E_MISSING,
				    "no %s section", spice_image_section_name(t));
	return 0;
}

/* Read every section, check its checksum, keep the known ones. */
static int read_sections(struct check *c)
{
	struct spice_image *img = c->img;
	struct spice_image_error *err = c->err;
	uint32_t crc;
	size_t i;
	char name[48];
	int ret;

	for (i = 0; i < img->nr_descs; i++) {
		const struct snapshot_image_section *d = &img->descs[i];

		desc_name(d, i, name, sizeof(name));
		if (is_known(d->type)) {
			struct section *s = &img->sec[d->type];

			/* Bounded by data_off, so by the file size. */
			s->data = malloc(d->size ? (size_t)d->size : 1);
			if (!s->data)
				return fail(err, SPICE_IMAGE_E_NOMEM,
					    "%s: out of memory for %llu bytes",
					    name, (unsigned long long)d->size);
			s->size = d->size;
			s->entry_size = d->entry_size;
			s->nr = d->nr_entries;
			ret = source_read(&img->src, d->offset, s->data,
					  (size_t)d->size);
			if (ret)
				return read_fail(err, ret, name, d->offset);
			crc = spice__crc32c(0, s->data, (size_t)d->size);
		} else {
			ret = source_crc(&img->src, d->offset, d->size, &crc);
			if (ret)
				return read_fail(err, ret, name, d->offset);
		}
		if (crc != d->csum)
			return fail(err, SPICE_IMAGE_E_CSUM,
				    "%s: checksum %#010x, computed %#010x", name,
				    d->csum, crc);
	}
	return 0;
}

/* Bytes of every record past what this reader knows are zero. */
static int check_tails(struct check *c)
{
	const struct spice_image *img = c->img;
	uint32_t t;
	size_t i;

	for (t = SNAPSHOT_SECTION_TASK; t < NR_TYPES; t++) {
		const struct section *s = &img->sec[t];
		uint32_t known = record_size(t);

		if (is_blob(t) || s->entry_size <= known)
			continue;
		for (i = 0; i < s->nr; i++)
			if (!all_zero(s->data + i * s->entry_size + known,
				      s->entry_size - known))
				return fail(c->err, SPICE_IMAGE_E_RESERVED,
					    "%s %zu: bytes past the first %u not zero",
					    spice_image_section_name(t), i,
					    known);
	}
	return 0;
}

static int valid_string(const struct spice_image *img, uint32_t off)
{
	return off < img->sec[SNAPSHOT_SECTION_STRINGS].size;
}

static int check_strings(struct check *c)
{
	const struct section *s = &c->img->sec[SNAPSHOT_SECTION_STRINGS];

	if (!s->size)
		return fail(c->err, SPICE_IMAGE_E_STRING, "strings: empty");
	if (s->data[s->size - 1] != '\0')
		return fail(c->err, SPICE_IMAGE_E_STRING,
			    "strings: the last byte is not NUL");
	return 0;
}

static int check_task(struct check *c)
{
	struct snapshot_image_task t;

	RECORD(c->img, SNAPSHOT_SECTION_TASK, 0, &t);
	if (!memchr(t.comm, '\0', sizeof(t.comm)))
		return fail(c->err, SPICE_IMAGE_E_TASK,
			    "task: comm not NUL-terminated");
	if (!valid_string(c->img, t.cwd))
		return fail(c->err, SPICE_IMAGE_E_STRING,
			    "task: cwd: bad string offset %#x", t.cwd);
	if (t.exe != SNAPSHOT_IMAGE_NONE && !valid_string(c->img, t.exe))
		return fail(c->err, SPICE_IMAGE_E_STRING,
			    "task: exe: bad string offset %#x", t.exe);
	if (t.reserved)
		return fail(c->err, SPICE_IMAGE_E_RESERVED,
			    "task: reserved field %#x not zero", t.reserved);
	return 0;
}

static int check_mm(struct check *c)
{
	struct snapshot_image_mm mm;

	RECORD(c->img, SNAPSHOT_SECTION_MM, 0, &mm);
	if (mm.flags & ~(uint32_t)MM_FLAGS)
		return fail(c->err, SPICE_IMAGE_E_MM, "mm: unknown flags %#x",
			    mm.flags & ~(uint32_t)MM_FLAGS);
	if (mm.reserved)
		return fail(c->err, SPICE_IMAGE_E_RESERVED,
			    "mm: reserved field %#x not zero", mm.reserved);
	return 0;
}

static int check_files(struct check *c)
{
	const struct spice_image *img = c->img;
	struct snapshot_image_file f;
	size_t i;

	for (i = 0; i < img->sec[SNAPSHOT_SECTION_FILES].nr; i++) {
		RECORD(img, SNAPSHOT_SECTION_FILES, i, &f);
		if (!valid_string(img, f.path))
			return fail(c->err, SPICE_IMAGE_E_STRING,
				    "file %zu: path: bad string offset %#x", i,
				    f.path);
		if (img->sec[SNAPSHOT_SECTION_STRINGS].data[f.path] != '/')
			return fail(c->err, SPICE_IMAGE_E_FILE,
				    "file %zu: path is not absolute", i);
		if (f.reserved)
			return fail(c->err, SPICE_IMAGE_E_RESERVED,
				    "file %zu: reserved field %#x not zero", i,
				    f.reserved);
	}
	return 0;
}

static int check_vmas(struct check *c)
{
	const struct spice_image *img = c->img;
	struct spice_image_error *err = c->err;
	uint64_t mask = img->page_mask, prev_start = 0, prev_end = 0;
	uint32_t nr_files = img->sec[SNAPSHOT_SECTION_FILES].nr;
	struct snapshot_image_vma v;
	size_t i;

	for (i = 0; i < img->sec[SNAPSHOT_SECTION_VMAS].nr; i++) {
		RECORD(img, SNAPSHOT_SECTION_VMAS, i, &v);
		if ((v.start & mask) || (v.end & mask))
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: [%#llx, %#llx) not page aligned",
				    i, (unsigned long long)v.start,
				    (unsigned long long)v.end);
		if (v.start >= v.end)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: start %#llx not below end %#llx",
				    i, (unsigned long long)v.start,
				    (unsigned long long)v.end);
		if (v.end > TASK_SIZE_MAX)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: end %#llx past the user address space",
				    i, (unsigned long long)v.end);
		if (i && v.start < prev_start)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: not sorted (starts below vma %zu)",
				    i, i - 1);
		if (i && v.start < prev_end)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: overlaps vma %zu", i, i - 1);
		if (v.prot & ~(uint32_t)VMA_PROT)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: unknown prot bits %#x", i,
				    v.prot & ~(uint32_t)VMA_PROT);
		if (v.kind > SNAPSHOT_VMA_VVAR)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: unknown kind %u", i, v.kind);
		if (v.flags & ~(uint64_t)VMA_FLAGS)
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: unknown flags %#llx", i,
				    (unsigned long long)(v.flags & ~(uint64_t)VMA_FLAGS));
		if (v.kind == SNAPSHOT_VMA_FILE) {
			if (v.file >= nr_files)
				return fail(err, SPICE_IMAGE_E_VMA,
					    "vma %zu: file index %u out of range (%u files)",
					    i, v.file, nr_files);
			if (v.pgoff & mask)
				return fail(err, SPICE_IMAGE_E_VMA,
					    "vma %zu: pgoff %#llx not page aligned",
					    i, (unsigned long long)v.pgoff);
			if (v.pgoff > UINT64_MAX - (v.end - v.start))
				return fail(err, SPICE_IMAGE_E_VMA,
					    "vma %zu: pgoff %#llx + length overflows",
					    i, (unsigned long long)v.pgoff);
		} else if (v.file != SNAPSHOT_IMAGE_NONE) {
			return fail(err, SPICE_IMAGE_E_VMA,
				    "vma %zu: file index %u on a mapping of no file",
				    i, v.file);
		}
		if (v.reserved)
			return fail(err, SPICE_IMAGE_E_RESERVED,
				    "vma %zu: reserved field %#x not zero", i,
				    v.reserved);
		prev_start = v.start;
		prev_end = v.end;
	}
	return 0;
}

static int check_extents(struct check *c)
{
	const struct spice_image *img = c->img;
	const struct snapshot_image_header *h = &img->hdr;
	struct spice_image_error *err = c->err;
	uint64_t mask = img->page_mask, prev_addr = 0, prev_end = 0;
	uint64_t data_end = h->data_off + h->data_size;
	uint64_t ws_end = h->data_off + h->ws_size;
	uint32_t nr_vmas = img->sec[SNAPSHOT_SECTION_VMAS].nr;
	size_t i, n = img->sec[SNAPSHOT_SECTION_EXTENTS].nr;
	struct snapshot_image_extent e;
	struct snapshot_image_vma v;
	uint64_t (*data)[2];
	int ret = 0;

	for (i = 0; i < n; i++) {
		RECORD(img, SNAPSHOT_SECTION_EXTENTS, i, &e);
		if (e.flags & ~(uint32_t)SNAPSHOT_EXTENT_WORKING_SET)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: unknown flags %#x", i,
				    e.flags & ~(uint32_t)SNAPSHOT_EXTENT_WORKING_SET);
		if (!e.len)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: len 0", i);
		if ((e.addr & mask) || (e.len & mask) || (e.data_off & mask))
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: addr %#llx, len %#llx or data_off %#llx not page aligned",
				    i, (unsigned long long)e.addr,
				    (unsigned long long)e.len,
				    (unsigned long long)e.data_off);
		if (e.len > UINT64_MAX - e.addr)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: addr + len overflows", i);
		if (i && e.addr < prev_addr)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: not sorted (starts below extent %zu)",
				    i, i - 1);
		if (i && e.addr < prev_end)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: overlaps extent %zu", i, i - 1);
		if (e.vma >= nr_vmas)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: vma index %u out of range (%u vmas)",
				    i, e.vma, nr_vmas);
		RECORD(img, SNAPSHOT_SECTION_VMAS, e.vma, &v);
		if (e.addr < v.start || e.addr + e.len > v.end)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: [%#llx, %#llx) not inside vma %u [%#llx, %#llx)",
				    i, (unsigned long long)e.addr,
				    (unsigned long long)(e.addr + e.len), e.vma,
				    (unsigned long long)v.start,
				    (unsigned long long)v.end);
		if (v.kind != SNAPSHOT_VMA_ANON && v.kind != SNAPSHOT_VMA_FILE &&
		    v.kind != SNAPSHOT_VMA_SHMEM)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: vma %u is of kind %u, which has no stored pages",
				    i, e.vma, v.kind);
		if (e.data_off < h->data_off || e.len > data_end - h->data_off ||
		    e.data_off > data_end - e.len)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: data [%llu, +%llu) outside the data area [%llu, %llu)",
				    i, (unsigned long long)e.data_off,
				    (unsigned long long)e.len,
				    (unsigned long long)h->data_off,
				    (unsigned long long)data_end);
		/* Now data_off + len <= data_end: no overflow below. */
		if ((e.flags & SNAPSHOT_EXTENT_WORKING_SET) &&
		    e.data_off + e.len > ws_end)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: in the working set, but its data is not",
				    i);
		if (!(e.flags & SNAPSHOT_EXTENT_WORKING_SET) &&
		    e.data_off < ws_end)
			return fail(err, SPICE_IMAGE_E_EXTENT,
				    "extent %zu: not in the working set, but its data is",
				    i);
		prev_addr = e.addr;
		prev_end = e.addr + e.len;
	}

	/* The data of two extents does not overlap. */
	if (n < 2)
		return 0;
	data = malloc(n * sizeof(*data));
	if (!data)
		return fail(err, SPICE_IMAGE_E_NOMEM,
			    "extents: out of memory for %zu extents", n);
	for (i = 0; i < n; i++) {
		RECORD(img, SNAPSHOT_SECTION_EXTENTS, i, &e);
		data[i][0] = e.data_off;
		data[i][1] = i;
	}
	qsort(data, n, sizeof(*data), cmp_u64_pair);
	for (i = 1; i < n; i++) {
		RECORD(img, SNAPSHOT_SECTION_EXTENTS, (size_t)data[i - 1][1], &e);
		if (data[i][0] < e.data_off + e.len) {
			ret = fail(err, SPICE_IMAGE_E_EXTENT,
				   "extent %llu: data overlaps the data of extent %llu",
				   (unsigned long long)data[i][1],
				   (unsigned long long)data[i - 1][1]);
			break;
		}
	}
	free(data);
	return ret;
}

/* The file pages of the working set: sorted runs inside file mappings. */
static int check_file_ws(struct check *c)
{
	const struct spice_image *img = c->img;
	struct spice_image_error *err = c->err;
	uint64_t mask = img->page_mask, prev_end = 0;
	uint32_t nr_vmas = img->sec[SNAPSHOT_SECTION_VMAS].nr;
	size_t i, n = img->sec[SNAPSHOT_SECTION_FILE_WS].nr;
	struct snapshot_image_file_ws w;
	struct snapshot_image_vma v;

	for (i = 0; i < n; i++) {
		RECORD(img, SNAPSHOT_SECTION_FILE_WS, i, &w);
		if (w.flags)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: unknown flags %#x", i, w.flags);
		if (!w.len)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: len 0", i);
		if ((w.addr & mask) || (w.len & mask))
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: addr %#llx or len %#llx not page aligned",
				    i, (unsigned long long)w.addr,
				    (unsigned long long)w.len);
		if (w.len > UINT64_MAX - w.addr)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: addr + len overflows", i);
		if (i && w.addr < prev_end)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: not sorted, or overlaps file_ws %zu",
				    i, i - 1);
		if (w.vma >= nr_vmas)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: vma index %u out of range (%u vmas)",
				    i, w.vma, nr_vmas);
		RECORD(img, SNAPSHOT_SECTION_VMAS, w.vma, &v);
		if (v.kind != SNAPSHOT_VMA_FILE)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: vma %u is of kind %u, not a file mapping",
				    i, w.vma, v.kind);
		if (w.addr < v.start || w.addr + w.len > v.end)
			return fail(err, SPICE_IMAGE_E_FILE_WS,
				    "file_ws %zu: [%#llx, %#llx) not inside vma %u [%#llx, %#llx)",
				    i, (unsigned long long)w.addr,
				    (unsigned long long)(w.addr + w.len), w.vma,
				    (unsigned long long)v.start,
				    (unsigned long long)v.end);
		prev_end = w.addr + w.len;
	}
	return 0;
}

static int check_fds(struct check *c)
{
	const struct spice_image *img = c->img;
	struct spice_image_error *err = c->err;
	uint32_t nr_files = img->sec[SNAPSHOT_SECTION_FILES].nr;
	struct snapshot_image_fd f;
	int32_t prev = -1;
	size_t i;

	for (i = 0; i < img->sec[SNAPSHOT_SECTION_FDS].nr; i++) {
		RECORD(img, SNAPSHOT_SECTION_FDS, i, &f);
		if (f.fd < 0)
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: negative descriptor %d", i, f.fd);
		if (f.fd == prev)
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: descriptor %d appears twice", i,
				    f.fd);
		if (f.fd < prev)
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: not sorted (%d after %d)", i, f.fd,
				    prev);
		if (f.kind == SNAPSHOT_FD_FILE) {
			if (f.file >= nr_files)
				return fail(err, SPICE_IMAGE_E_FD,
					    "fd %zu: file index %u out of range (%u files)",
					    i, f.file, nr_files);
		} else if (f.kind == SNAPSHOT_FD_STDIO) {
			if (f.fd > 2)
				return fail(err, SPICE_IMAGE_E_FD,
					    "fd %zu: descriptor %d is not standard I/O",
					    i, f.fd);
		} else {
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: unknown kind %u", i, f.kind);
		}
		if (f.flags & ~(uint32_t)FD_OPEN_FLAGS)
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: unknown open flags %#x", i,
				    f.flags & ~(uint32_t)FD_OPEN_FLAGS);
		if (f.fd_flags & ~(uint32_t)FD_CLOEXEC)
			return fail(err, SPICE_IMAGE_E_FD,
				    "fd %zu: unknown fd_flags %#x", i,
				    f.fd_flags & ~(uint32_t)FD_CLOEXEC);
		if (f.reserved)
			return fail(err, SPICE_IMAGE_E_RESERVED,
				    "fd %zu: reserved field %#x not zero", i,
				    f.reserved);
		prev = f.fd;
	}
	return 0;
}

static int check_auxv(struct check *c)
{
	const struct section *s = &c->img->sec[SNAPSHOT_SECTION_AUXV];
	uint64_t key;

	if (s->nr % 2)
		return fail(c->err, SPICE_IMAGE_E_AUXV,
			    "auxv: odd number of values (%u)", s->nr);
	memcpy(&key, s->data + (size_t)(s->nr - 2) * 8, sizeof(key));
	if (key != 0)
		return fail(c->err, SPICE_IMAGE_E_AUXV,
			    "auxv: does not end with AT_NULL (last key %llu)",
			    (unsigned long long)key);
	return 0;
}

/* Steps 1 and 2: the header and the section table. */
static int load_table(struct check *c)
{
	struct spice_image *img = c->img;
	struct snapshot_image_header *h = &img->hdr;
	struct spice_image_error *err = c->err;
	uint64_t size = img->src.size, table_size;
	unsigned char *table;
	uint32_t crc, csum;
	size_t i;
	int ret;

	if (size < sizeof(h->magic))
		return fail(err, SPICE_IMAGE_E_SIZE,
			    "file of %llu bytes: too short for an image",
			    (unsigned long long)size);
	ret = source_read(&img->src, 0, h,
			  size < sizeof(*h) ? (size_t)size : sizeof(*h));
	if (ret)
		return read_fail(err, ret, "header", 0);
	if (h->magic != SNAPSHOT_IMAGE_MAGIC)
		return fail(err, SPICE_IMAGE_E_MAGIC,
			    "not a snapshot image (magic %#018llx)",
			    (unsigned long long)h->magic);
	if (size < SNAPSHOT_IMAGE_HEADER_SIZE_VER0)
		return fail(err, SPICE_IMAGE_E_SIZE,
			    "file of %llu bytes: truncated in the header",
			    (unsigned long long)size);
	if (h->version != SNAPSHOT_IMAGE_VERSION)
		return fail(err, SPICE_IMAGE_E_VERSION,
			    "header: version %u not supported (this reader knows %u)",
			    h->version, SNAPSHOT_IMAGE_VERSION);
	if (h->header_size < SNAPSHOT_IMAGE_HEADER_SIZE_VER0 ||
	    h->header_size > MAX_HEADER_SIZE)
		return fail(err, SPICE_IMAGE_E_HEADER,
			    "header: header_size %u out of range [%u, %u]",
			    h->header_size, SNAPSHOT_IMAGE_HEADER_SIZE_VER0,
			    MAX_HEADER_SIZE);
	if (h->header_size != sizeof(*h))
		return fail(err, SPICE_IMAGE_E_VERSION,
			    "header: header_size %u not supported (this reader knows %zu)",
			    h->header_size, sizeof(*h));

	if (h->nr_sections > SNAPSHOT_IMAGE_MAX_SECTIONS)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "header: nr_sections %u over the limit of %u",
			    h->nr_sections, SNAPSHOT_IMAGE_MAX_SECTIONS);
	if (h->section_size < SNAPSHOT_IMAGE_SECTION_SIZE_VER0 ||
	    h->section_size > MAX_SECTION_SIZE)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "header: section_size %u out of range [%u, %u]",
			    h->section_size, SNAPSHOT_IMAGE_SECTION_SIZE_VER0,
			    MAX_SECTION_SIZE);
	if (h->sections_off & 7)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "header: sections_off %llu not 8-byte aligned",
			    (unsigned long long)h->sections_off);
	if (h->sections_off < h->header_size)
		return fail(err, SPICE_IMAGE_E_SECTION,
			    "header: sections_off %llu inside the header",
			    (unsigned long long)h->sections_off);
	/* At most 64 * 256 bytes: no overflow once sections_off <= size. */
	table_size = (uint64_t)h->nr_sections * h->section_size;
	if (h->sections_off > size || table_size > size - h->sections_off)
		return fail(err, SPICE_IMAGE_E_SIZE,
			    "section table [%llu, +%llu) past the end of the file (%llu bytes)",
			    (unsigned long long)h->sections_off,
			    (unsigned long long)table_size,
			    (unsigned long long)size);
	c->table_end = h->sections_off + table_size;

	table = malloc(table_size ? (size_t)table_size : 1);
	if (!table)
		return fail(err, SPICE_IMAGE_E_NOMEM,
			    "out of memory for the section table");
	ret = source_read(&img->src, h->sections_off, table, (size_t)table_size);
	if (ret) {
		free(table);
		return read_fail(err, ret, "section table", h->sections_off);
	}

	csum = h->csum;
	h->csum = 0;
	crc = spice__crc32c(0, h, sizeof(*h));
	crc = spice__crc32c(crc, table, (size_t)table_size);
	h->csum = csum;
	if (crc != csum) {
		free(table);
		return fail(err, SPICE_IMAGE_E_CSUM,
			    "header: checksum %#010x, computed %#010x", csum,
			    crc);
	}

	img->descs = calloc(h->nr_sections ? h->nr_sections : 1,
			    sizeof(*img->descs));
	if (!img->descs) {
		free(table);
		return fail(err, SPICE_IMAGE_E_NOMEM,
			    "out of memory for the section table");
	}
	img->nr_descs = h->nr_sections;
	for (i = 0; i < img->nr_descs; i++) {
		const unsigned char *d = table + i * h->section_size;

		memcpy(&img->descs[i], d, sizeof(img->descs[i]));
		if (!all_zero(d + sizeof(img->descs[i]),
			      h->section_size - sizeof(img->descs[i]))) {
			free(table);
			return fail(err, SPICE_IMAGE_E_RESERVED,
				    "section %zu: descriptor bytes past the first %zu not zero",
				    i, sizeof(img->descs[i]));
		}
	}
	free(table);
	return 0;
}

static int load(struct spice_image *img, struct spice_image_error *err)
{
	struct check c = { .img = img, .err = err };
	int ret;

	ret = load_table(&c);
	if (!ret)
		ret = check_header(&c);
	if (!ret)
		ret = check_descs(&c);
	if (!ret)
		ret = read_sections(&c);
	if (!ret)
		ret = check_tails(&c);
	if (!ret)
		ret = check_strings(&c);
	if (!ret)
		ret = check_task(&c);
	if (!ret)
		ret = check_mm(&c);
	if (!ret)
		ret = check_files(&c);
	if (!ret)
		ret = check_vmas(&c);
	if (!ret)
		ret = check_extents(&c);
	if (!ret)
		ret = check_file_ws(&c);
	if (!ret)
		ret = check_fds(&c);
	if (!ret)
		ret = check_auxv(&c);
	return ret;
}

/* ---- opening and closing ------------------------------------------------- */

SPICE_EXPORT void spice_image_close(struct spice_image *img)
{
	int saved_errno = errno;
	size_t t;

	if (!img)
		return;
	for (t = 0; t < NR_TYPES; t++)
		free(img->sec[t].data);
	free(img->descs);
	if (img->src.fd >= 0)
		close(img->src.fd);
	free(img);
	errno = saved_errno;
}

/*
 * Check the image of @src and, if it is good, set *@out. Takes @src's file
 * descriptor, which is closed on failure.
 */
static int image_open(const struct source *src, struct spice_image **out,
		      struct spice_image_error *err)
{
	struct spice_image *img;
	int ret;

	img = calloc(1, sizeof(*img));
	if (!img) {
		if (src->fd >= 0)
			close(src->fd);
		return fail(err, SPICE_IMAGE_E_NOMEM, "out of memory");
	}
	img->src = *src;
	ret = load(img, err);
	if (ret) {
		spice_image_close(img);
		return ret;
	}
	no_error(err);
	*out = img;
	return 0;
}

/* Open the image of the file @fd, which this function owns. */
static int image_open_file(int fd, struct spice_image **out,
			   struct spice_image_error *err)
{
	struct source src = { .fd = fd };
	struct stat st;
	char buf[64];
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return fail_errno(err, SPICE_IMAGE_E_IO, ret, "fstat: %s",
				  error_text(-ret, buf, sizeof(buf)));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail_errno(err, SPICE_IMAGE_E_ARG,
				  S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
				  "not a regular file");
	}
	src.size = (uint64_t)st.st_size;
	return image_open(&src, out, err);
}

SPICE_EXPORT int spice_image_open(const char *path, struct spice_image **img,
				  struct spice_image_error *err)
{
	int saved_errno = errno;
	char buf[64];
	int fd, ret;

	if (!path || !img)
		return fail(err, SPICE_IMAGE_E_ARG, "%s is NULL",
			    path ? "img" : "path");
	/* O_NONBLOCK: a FIFO must not hang the open; it is rejected below. */
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		ret = -errno;
		errno = saved_errno;
		return fail_errno(err, SPICE_IMAGE_E_IO, ret, "open: %s",
				  error_text(-ret, buf, sizeof(buf)));
	}
	ret = image_open_file(fd, img, err);
	errno = saved_errno;
	return ret;
}

SPICE_EXPORT int spice_image_open_fd(int fd, struct spice_image **img,
				     struct spice_image_error *err)
{
	int saved_errno = errno;
	char buf[64];
	int dup_fd, ret;

	if (fd < 0)
		return fail_errno(err, SPICE_IMAGE_E_ARG, -EBADF,
				  "fd %d is negative", fd);
	if (!img)
		return fail(err, SPICE_IMAGE_E_ARG, "img is NULL");
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		ret = -errno;
		errno = saved_errno;
		return fail_errno(err, SPICE_IMAGE_E_IO, ret, "dup: %s",
				  error_text(-ret, buf, sizeof(buf)));
	}
	ret = image_open_file(dup_fd, img, err);
	errno = saved_errno;
	return ret;
}

SPICE_EXPORT int spice_image_open_mem(const void *buf, size_t len,
				      struct spice_image **img,
				      struct spice_image_error *err)
{
	static const unsigned char empty[1];
	struct source src = { .fd = -1, .mem = buf, .size = len };
	int saved_errno = errno;
	int ret;

	if ((!buf && len) || !img)
		return fail(err, SPICE_IMAGE_E_ARG, "%s is NULL",
			    img ? "buf" : "img");
	if (!buf)
		src.mem = empty;
	ret = image_open(&src, img, err);
	errno = saved_errno;
	return ret;
}

/* ---- accessors ------------------------------------------------------------ */

SPICE_EXPORT const struct snapshot_image_header *
spice_image_header(const struct spice_image *img)
{
	return img ? &img->hdr : NULL;
}

SPICE_EXPORT size_t spice_image_nr_sections(const struct spice_image *img)
{
	return img ? img->nr_descs : 0;
}

SPICE_EXPORT const struct snapshot_image_section *
spice_image_section(const struct spice_image *img, size_t i)
{
	if (!img || i >= img->nr_descs)
		return NULL;
	return &img->descs[i];
}

static size_t count(const struct spice_image *img, uint32_t type)
{
	return img ? img->sec[type].nr : 0;
}

static int get_record(const struct spice_image *img, uint32_t type, size_t i,
		      void *out, size_t size)
{
	if (!img || !out)
		return -EINVAL;
	if (i >= img->sec[type].nr)
		return -ERANGE;
	copy_record(img, type, i, out, size);
	return 0;
}

#define ACCESSORS(name, type, rec)					\
SPICE_EXPORT size_t spice_image_nr_##name##s(const struct spice_image *img) \
{									\
	return count(img, type);					\
}									\
									\
SPICE_EXPORT int spice_image_##name(const struct spice_image *img,	\
				    size_t i, rec *out)			\
{									\
	return get_record(img, type, i, out, sizeof(*out));		\
}

ACCESSORS(vma, SNAPSHOT_SECTION_VMAS, struct snapshot_image_vma)
ACCESSORS(extent, SNAPSHOT_SECTION_EXTENTS, struct snapshot_image_extent)
ACCESSORS(file, SNAPSHOT_SECTION_FILES, struct snapshot_image_file)
ACCESSORS(fd, SNAPSHOT_SECTION_FDS, struct snapshot_image_fd)
ACCESSORS(sigaction, SNAPSHOT_SECTION_SIGACTIONS,
	  struct snapshot_image_sigaction)
ACCESSORS(rlimit, SNAPSHOT_SECTION_RLIMITS, struct snapshot_image_rlimit)

SPICE_EXPORT size_t spice_image_nr_file_ws(const struct spice_image *img)
{
	return count(img, SNAPSHOT_SECTION_FILE_WS);
}

SPICE_EXPORT int spice_image_file_ws(const struct spice_image *img, size_t i,
				     struct snapshot_image_file_ws *out)
{
	return get_record(img, SNAPSHOT_SECTION_FILE_WS, i, out, sizeof(*out));
}

SPICE_EXPORT size_t spice_image_nr_auxv(const struct spice_image *img)
{
	return count(img, SNAPSHOT_SECTION_AUXV);
}

SPICE_EXPORT int spice_image_auxv(const struct spice_image *img, size_t i,
				  uint64_t *out)
{
	return get_record(img, SNAPSHOT_SECTION_AUXV, i, out, sizeof(*out));
}

SPICE_EXPORT int spice_image_task(const struct spice_image *img,
				  struct snapshot_image_task *out)
{
	return get_record(img, SNAPSHOT_SECTION_TASK, 0, out, sizeof(*out));
}

SPICE_EXPORT int spice_image_mm(const struct spice_image *img,
				struct snapshot_image_mm *out)
{
	return get_record(img, SNAPSHOT_SECTION_MM, 0, out, sizeof(*out));
}

SPICE_EXPORT int spice_image_regs(const struct spice_image *img,
				  struct snapshot_image_regs *out)
{
	return get_record(img, SNAPSHOT_SECTION_REGS, 0, out, sizeof(*out));
}

SPICE_EXPORT const void *spice_image_xsave(const struct spice_image *img,
					   size_t *size)
{
	if (size)
		*size = img ? (size_t)img->sec[SNAPSHOT_SECTION_XSAVE].size : 0;
	return img ? img->sec[SNAPSHOT_SECTION_XSAVE].data : NULL;
}

SPICE_EXPORT const char *spice_image_string(const struct spice_image *img,
					    uint32_t off)
{
	if (!img || off == SNAPSHOT_IMAGE_NONE || !valid_string(img, off))
		return NULL;
	return (const char *)img->sec[SNAPSHOT_SECTION_STRINGS].data + off;
}

SPICE_EXPORT ssize_t spice_image_read_data(const struct spice_image *img,
					   const struct snapshot_image_extent *e,
					   void *buf, size_t len)
{
	int saved_errno = errno;
	uint64_t size;
	int ret;

	if (!img || !e || (!buf && len))
		return -EINVAL;
	size = img->src.size;
	if (e->data_off < img->hdr.data_off || e->data_off > size ||
	    e->len > size - e->data_off)
		return -EINVAL;
	if (len > e->len)
		len = (size_t)e->len;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ret = source_read(&img->src, e->data_off, buf, len);
	errno = saved_errno;
	return ret ? ret : (ssize_t)len;
}
