/*
 * A test-only writer of synthetic snapshot images; see image_builder.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "image_builder.h"

uint32_t ib_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;
	int k;

	while (len--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? 0x82f63b78U : 0);
	}
	return ~c;
}

uint32_t ib_string(struct ib_spec *s, const char *str)
{
	size_t len = strlen(str) + 1;
	uint32_t off = (uint32_t)s->strings_size;

	if (s->strings_size + len > sizeof(s->strings)) {
		fprintf(stderr, "image_builder: strings full\n");
		abort();
	}
	memcpy(s->strings + off, str, len);
	s->strings_size += len;
	return off;
}

unsigned char ib_data_byte(uint64_t addr, size_t i)
{
	uint64_t page = addr / IB_PAGE;

	return (unsigned char)(page * 151 + i * 7 + (i >> 8) * 13 + 1);
}

#define VMA(s, e, p, k, f, pr, fl) \
	{ .start = (s), .end = (e), .pgoff = (p), .kind = (k), .file = (f), \
	  .prot = (pr), .flags = (fl) }
#define NONE	SNAPSHOT_IMAGE_NONE

void ib_default(struct ib_spec *s)
{
	static const struct snapshot_image_vma vmas[IB_DEFAULT_VMAS] = {
		VMA(0x400000, 0x402000, 0, SNAPSHOT_VMA_FILE, 0,
		    PROT_READ | PROT_EXEC, 0),
		VMA(0x402000, 0x404000, 0x2000, SNAPSHOT_VMA_FILE, 0,
		    PROT_READ | PROT_WRITE, SNAPSHOT_VMA_MAYWRITE),
		VMA(0x600000, 0x640000, 0, SNAPSHOT_VMA_ANON, NONE,
		    PROT_READ | PROT_WRITE, SNAPSHOT_VMA_MAYWRITE),
		VMA(0x7f0000000000, 0x7f0000004000, 0, SNAPSHOT_VMA_SHMEM, NONE,
		    PROT_READ | PROT_WRITE,
		    SNAPSHOT_VMA_SHARED | SNAPSHOT_VMA_MAYWRITE),
		VMA(0x7f0000010000, 0x7f0000200000, 0x10000, SNAPSHOT_VMA_FILE,
		    1, PROT_READ | PROT_EXEC, SNAPSHOT_VMA_DONTDUMP),
		VMA(0x7ffd00000000, 0x7ffd00021000, 0, SNAPSHOT_VMA_ANON, NONE,
		    PROT_READ | PROT_WRITE,
		    SNAPSHOT_VMA_GROWSDOWN | SNAPSHOT_VMA_MAYWRITE),
		VMA(0x7ffd00100000, 0x7ffd00102000, 0, SNAPSHOT_VMA_VVAR, NONE,
		    PROT_READ, 0),
	};
	static const struct snapshot_image_extent extents[IB_DEFAULT_EXTENTS] = {
		{ .addr = 0x402000, .len = 0x1000, .vma = 1 },
		{ .addr = 0x600000, .len = 0x2000, .vma = 2,
		  .flags = SNAPSHOT_EXTENT_WORKING_SET },
		{ .addr = 0x610000, .len = 0x1000, .vma = 2 },
		{ .addr = 0x7f0000000000, .len = 0x1000, .vma = 3,
		  .flags = SNAPSHOT_EXTENT_WORKING_SET },
		{ .addr = 0x7ffd00020000, .len = 0x1000, .vma = 5,
		  .flags = SNAPSHOT_EXTENT_WORKING_SET },
	};
	static const struct snapshot_image_fd fds[IB_DEFAULT_FDS] = {
		{ .fd = 0, .kind = SNAPSHOT_FD_STDIO, .file = NONE },
		{ .fd = 1, .kind = SNAPSHOT_FD_STDIO, .file = NONE },
		{ .fd = 2, .kind = SNAPSHOT_FD_STDIO, .file = NONE },
		{ .fd = 3, .kind = SNAPSHOT_FD_FILE, .file = 2,
		  .flags = O_WRONLY | O_APPEND, .fd_flags = FD_CLOEXEC,
		  .pos = 42 },
	};
	static const char *const paths[IB_DEFAULT_FILES] = {
		"/usr/bin/sleeper",
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/tmp/log \"quoted\"\\ \t\x01 \xc3\xa9 \xff.txt",
	};
	uint32_t i;

	memset(s, 0, sizeof(*s));
	s->flags = SNAPSHOT_IMAGE_WORKING_SET;
	s->time_ns = 1767225600ULL * 1000000000ULL + 42;

	s->task.umask = 022;
	memcpy(s->task.comm, "sleeper", sizeof("sleeper"));
	s->task.cwd = ib_string(s, "/home/user");
	s->task.exe = ib_string(s, "/usr/bin/sleeper");
	s->task.sigmask = 1ULL << (10 - 1);
	s->task.sigpending = 1ULL << (17 - 1);
	s->task.sas_ss_sp = 0x7ffd00010000;
	s->task.sas_ss_size = 0x2000;
	s->task.rseq_len = 32;
	s->task.rseq = 0x7ffd0001f000;
	s->task.rseq_sig = 0x53053053;
	s->task.robust_list = 0x7ffd0001f100;
	s->task.robust_list_len = 24;
	s->task.clear_child_tid = 0x7ffd0001f200;

	s->mm.start_code = 0x400000;
	s->mm.end_code = 0x401800;
	s->mm.start_data = 0x402000;
	s->mm.end_data = 0x403000;
	s->mm.start_brk = 0x600000;
	s->mm.brk = 0x640000;
	s->mm.start_stack = 0x7ffd00020ff0;
	s->mm.arg_start = 0x7ffd00020f00;
	s->mm.arg_end = 0x7ffd00020f20;
	s->mm.env_start = 0x7ffd00020f20;
	s->mm.env_end = 0x7ffd00020fe0;
	s->mm.mmap_base = 0x7f0000400000;
	s->mm.vdso = 0x7ffd00102000;
	s->mm.flags = SNAPSHOT_MM_LOCK_FUTURE;

	s->regs.ip = 0x401234;
	s->regs.sp = 0x7ffd00020e00;
	s->regs.ax = 1;
	s->regs.orig_ax = 463;
	s->regs.cs = 0x33;
	s->regs.ss = 0x2b;
	s->regs.flags = 0x246;
	s->regs.fs_base = 0x7f0000001000;
	s->regs.r15 = 0x1515151515151515;

	s->vmas = s->vma_store;
	s->nr_vmas = IB_DEFAULT_VMAS;
	memcpy(s->vma_store, vmas, sizeof(vmas));
	s->extents = s->extent_store;
	s->nr_extents = IB_DEFAULT_EXTENTS;
	memcpy(s->extent_store, extents, sizeof(extents));
	s->fds = s->fd_store;
	s->nr_fds = IB_DEFAULT_FDS;
	memcpy(s->fd_store, fds, sizeof(fds));
	s->files = s->file_store;
	s->nr_files = IB_DEFAULT_FILES;
	for (i = 0; i < IB_DEFAULT_FILES; i++) {
		struct snapshot_image_file *f = &s->file_store[i];

		f->dev = (8ULL << 8) | (i + 1);	/* st_dev of 8:(i + 1) */
		f->ino = 1000 + i;
		f->size = 0x5000 + i;
		f->mtime_sec = 1700000000 + i;
		f->mtime_nsec = 123456789;
		f->mode = i == 2 ? 0100644 : 0100755;
		f->path = ib_string(s, paths[i]);
	}

	s->nr_sigactions = 64;
	for (i = 0; i < 64; i++) {
		s->sigactions[i].handler = i == 1 ? 0x401100 : (i == 12 ? 1 : 0);
		s->sigactions[i].flags = i == 1 ? 0x04000000 : 0;
		s->sigactions[i].restorer = i == 1 ? 0x401200 : 0;
		s->sigactions[i].mask = i == 1 ? 1ULL << 14 : 0;
	}
	s->nr_rlimits = 16;
	for (i = 0; i < 16; i++) {
		s->rlimits[i].cur = i == 7 ? 1024 : ~0ULL;
		s->rlimits[i].max = i == 7 ? 4096 : ~0ULL - i;
	}
	s->nr_auxv = 0;
	s->auxv[s->nr_auxv++] = 6;	/* AT_PAGESZ */
	s->auxv[s->nr_auxv++] = IB_PAGE;
	s->auxv[s->nr_auxv++] = 9;	/* AT_ENTRY */
	s->auxv[s->nr_auxv++] = 0x401000;
	s->auxv[s->nr_auxv++] = 0;	/* AT_NULL */
	s->auxv[s->nr_auxv++] = 0;

	s->xsave_size = 576;
	for (i = 0; i < s->xsave_size; i++)
		s->xsave[i] = (unsigned char)(i * 3 + 5);
}

/* What each section holds in @s: its records (or bytes) and count. */
static uint32_t nr_of(const struct ib_spec *s, uint32_t type,
		      const void **data, uint32_t *rec)
{
	switch (type) {
	case SNAPSHOT_SECTION_TASK:
		*data = &s->task, *rec = sizeof(s->task);
		return 1;
	case SNAPSHOT_SECTION_MM:
		*data = &s->mm, *rec = sizeof(s->mm);
		return 1;
	case SNAPSHOT_SECTION_VMAS:
		*data = s->vmas, *rec = sizeof(*s->vmas);
		return s->nr_vmas;
	case SNAPSHOT_SECTION_EXTENTS:
		*data = s->extents, *rec = sizeof(*s->extents);
		return s->nr_extents;
	case SNAPSHOT_SECTION_FILES:
		*data = s->files, *rec = sizeof(*s->files);
		return s->nr_files;
	case SNAPSHOT_SECTION_FDS:
		*data = s->fds, *rec = sizeof(*s->fds);
		return s->nr_fds;
	case SNAPSHOT_SECTION_REGS:
		*data = &s->regs, *rec = sizeof(s->regs);
		return 1;
	case SNAPSHOT_SECTION_XSAVE:
		*data = s->xsave, *rec = 0;
		return (uint32_t)s->xsave_size;
	case SNAPSHOT_SECTION_SIGACTIONS:
		*data = s->sigactions, *rec = sizeof(s->sigactions[0]);
		return s->nr_sigactions;
	case SNAPSHOT_SECTION_RLIMITS:
		*data = s->rlimits, *rec = sizeof(s->rlimits[0]);
		return s->nr_rlimits;
	case SNAPSHOT_SECTION_AUXV:
		*data = s->auxv, *rec = sizeof(s->auxv[0]);
		return s->nr_auxv;
	case SNAPSHOT_SECTION_STRINGS:
		*data = s->strings, *rec = 0;
		return (uint32_t)s->strings_size;
	}
	*data = NULL, *rec = 0;
	return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

int ib_build(struct ib_spec *s, struct ib_image *img)
{
	struct snapshot_image_section descs[IB_NR_TYPES + IB_MAX_EXTRA];
	struct snapshot_image_header h;
	uint32_t section_size = s->section_size ? s->section_size :
				SNAPSHOT_IMAGE_SECTION_SIZE_VER0;
	uint32_t nr = 0, t, i, n, rec, es;
	uint64_t off, ws = 0, data = 0, pos;
	const void *src;
	unsigned char *buf;

	memset(descs, 0, sizeof(descs));
	memset(&h, 0, sizeof(h));

	/* Where everything goes: the table after the header, then each
	 * section 8-byte aligned, then the data area. */
	for (t = SNAPSHOT_SECTION_TASK; t < IB_NR_TYPES; t++)
		if (!(s->omit & (1U << t)))
			nr++;
	nr += s->nr_extra;
	off = align_up(SNAPSHOT_IMAGE_HEADER_SIZE_VER0 +
		       (uint64_t)nr * section_size, 8);
	nr = 0;
	for (t = SNAPSHOT_SECTION_TASK; t < IB_NR_TYPES; t++) {
		struct snapshot_image_section *d = &descs[nr];

		if (s->omit & (1U << t))
			continue;
		n = nr_of(s, t, &src, &rec);
		es = s->entry_size[t] ? s->entry_size[t] : rec;
		d->type = t;
		d->offset = off;
		d->entry_size = es;
		d->nr_entries = rec ? n : 0;
		d->size = rec ? (uint64_t)es * n : n;
		off = align_up(off + d->size, 8);
		nr++;
	}
	for (i = 0; i < s->nr_extra; i++) {
		struct snapshot_image_section *d = &descs[nr++];

		d->type = s->extra[i].type;
		d->flags = s->extra[i].flags;
		d->offset = off;
		d->size = s->extra[i].size;
		d->entry_size = s->extra[i].entry_size;
		d->nr_entries = s->extra[i].nr_entries;
		off = align_up(off + d->size, 8);
	}
	h.data_off = align_up(off, IB_PAGE);

	/* The working set first, then the other extents. */
	for (i = 0; i < s->nr_extents; i++)
		if (s->extents[i].flags & SNAPSHOT_EXTENT_WORKING_SET)
			ws += s->extents[i].len;
	for (i = 0, pos = h.data_off; i < s->nr_extents; i++)
		if (s->extents[i].flags & SNAPSHOT_EXTENT_WORKING_SET) {
			s->extents[i].data_off = pos;
			pos += s->extents[i].len;
		}
	for (i = 0; i < s->nr_extents; i++)
		if (!(s->extents[i].flags & SNAPSHOT_EXTENT_WORKING_SET)) {
			s->extents[i].data_off = pos;
			pos += s->extents[i].len;
		}
	for (i = 0; i < s->nr_extents; i++)
		data += s->extents[i].len;

	h.magic = SNAPSHOT_IMAGE_MAGIC;
	h.version = SNAPSHOT_IMAGE_VERSION;
	h.header_size = SNAPSHOT_IMAGE_HEADER_SIZE_VER0;
	h.arch = SNAPSHOT_ARCH_X86_64;
	h.page_size = IB_PAGE;
	h.flags = s->flags;
	h.nr_sections = nr;
	h.section_size = section_size;
	h.sections_off = SNAPSHOT_IMAGE_HEADER_SIZE_VER0;
	h.data_size = data;
	h.ws_size = ws;
	h.image_size = h.data_off + data;
	h.time_ns = s->time_ns;

	buf = calloc(1, (size_t)h.image_size);
	if (!buf)
		return -1;
	img->buf = buf;
	img->len = (size_t)h.image_size;

	memcpy(buf, &h, sizeof(h));
	for (i = 0; i < nr; i++)
		memcpy(buf + h.sections_off + (size_t)i * section_size,
		       &descs[i], sizeof(descs[i]));

	/* The sections (the extents after their data_off is known). */
	for (i = 0; i < nr; i++) {
		struct snapshot_image_section *d = &descs[i];
		unsigned char *p = buf + d->offset;
		uint32_t k;

		if (i >= nr - s->nr_extra) {
			/* An extra section (maybe of a known type). */
			const struct ib_extra *x =
				&s->extra[i - (nr - s->nr_extra)];

			memcpy(p, x->data, x->size < sizeof(x->data) ?
			       x->size : sizeof(x->data));
			continue;
		}
		n = nr_of(s, d->type, &src, &rec);
		if (!rec) {
			memcpy(p, src, n);
			continue;
		}
		for (k = 0; k < n; k++)
			memcpy(p + (size_t)k * d->entry_size,
			       (const unsigned char *)src + (size_t)k * rec,
			       rec < d->entry_size ? rec : d->entry_size);
	}

	/* The page data. */
	for (i = 0; i < s->nr_extents; i++) {
		const struct snapshot_image_extent *e = &s->extents[i];
		size_t j;

		for (j = 0; j < e->len; j++)
			buf[e->data_off + j] =
				ib_data_byte(e->addr + j / IB_PAGE * IB_PAGE,
					     j % IB_PAGE);
	}

	ib_fix(img);
	return 0;
}

void ib_free(struct ib_image *img)
{
	free(img->buf);
	img->buf = NULL;
	img->len = 0;
}

struct snapshot_image_header *ib_header(const struct ib_image *img)
{
	if (img->len < sizeof(struct snapshot_image_header))
		return NULL;
	return (struct snapshot_image_header *)(void *)img->buf;
}

/* Descriptor @i of the table, if it is in the buffer. */
static struct snapshot_image_section *desc_at(const struct ib_image *img,
					      uint32_t i)
{
	const struct snapshot_image_header *h = ib_header(img);
	uint64_t off;

	if (!h || i >= h->nr_sections || h->section_size <
	    sizeof(struct snapshot_image_section) || (h->sections_off & 7))
		return NULL;
	off = h->sections_off + (uint64_t)i * h->section_size;
	if (h->sections_off > img->len || off > img->len ||
	    img->len - off < sizeof(struct snapshot_image_section))
		return NULL;
	return (struct snapshot_image_section *)(void *)(img->buf + off);
}

struct snapshot_image_section *ib_desc(const struct ib_image *img,
				       uint32_t type)
{
	const struct snapshot_image_header *h = ib_header(img);
	struct snapshot_image_section *d;
	uint32_t i;

	for (i = 0; h && i < h->nr_sections; i++) {
		d = desc_at(img, i);
		if (d && d->type == type)
			return d;
	}
	return NULL;
}

void *ib_section(const struct ib_image *img, uint32_t type)
{
	const struct snapshot_image_section *d = ib_desc(img, type);

	if (!d || d->offset > img->len || d->size > img->len - d->offset)
		return NULL;
	return img->buf + d->offset;
}

void *ib_record(const struct ib_image *img, uint32_t type, uint32_t i)
{
	const struct snapshot_image_section *d = ib_desc(img, type);
	unsigned char *p = ib_section(img, type);

	if (!p || i >= d->nr_entries)
		return NULL;
	return p + (size_t)i * d->entry_size;
}

void ib_fix(const struct ib_image *img)
{
	struct snapshot_image_header *h = ib_header(img);
	struct snapshot_image_section *d;
	uint64_t table;
	uint32_t i, crc;

	if (!h)
		return;
	for (i = 0; i < h->nr_sections; i++) {
		d = desc_at(img, i);
		if (d && d->offset <= img->len &&
		    d->size <= img->len - d->offset)
			d->csum = ib_crc32c(0, img->buf + d->offset,
					    (size_t)d->size);
	}
	table = (uint64_t)h->nr_sections * h->section_size;
	if (h->header_size > img->len || h->sections_off > img->len ||
	    table > img->len - h->sections_off)
		return;
	h->csum = 0;
	crc = ib_crc32c(0, img->buf, h->header_size);
	crc = ib_crc32c(crc, img->buf + h->sections_off, (size_t)table);
	h->csum = crc;
}
