/*
 * libspice - user-space interface to the Spice process snapshot system calls
 * snapshot_capture(), snapshot_restore() and mmap_populate_image(), and a
 * reader of the image files snapshot_capture() writes.
 *
 * Every function returns a negative errno value on failure; none of them
 * uses errno to report an error, and the raw wrappers leave errno as it was.
 * The library keeps no state: every function may be called from any thread
 * at any time.
 *
 * The system call numbers of this interface collide with unrelated calls on
 * kernels that do not carry the Spice patches, so the wrappers,
 * spice_populate(), the capture and the restore functions only enter the
 * kernel after /sys/kernel/snapshot/version has shown that it implements
 * the interface.
 * The discovery functions read that directory and nothing more; the image
 * reader reads the image it is given and nothing else.
 */
#ifndef SPICE_H
#define SPICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <spice/snapshot.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPICE_VERSION_MAJOR	0
#define SPICE_VERSION_MINOR	5

/* The system call a spice_kernel_flags() query is about. */
enum spice_call {
	SPICE_CALL_CAPTURE,	/* snapshot_capture() */
	SPICE_CALL_RESTORE,	/* snapshot_restore() */
	SPICE_CALL_POPULATE,	/* mmap_populate_image() */
};

/*
 * spice_abi_version - the ABI version the running kernel implements
 *
 * Returns the positive version in /sys/kernel/snapshot/version, -ENOSYS if
 * the kernel does not provide that file, -EPROTO if it does not hold a
 * positive decimal number (optionally followed by a newline), or another
 * negative errno if it cannot be read.
 */
int spice_abi_version(void);

/*
 * spice_supported - whether the running kernel implements the interface
 *
 * Returns 1 if the kernel's ABI version is at least SNAPSHOT_ABI_VERSION,
 * the version of <spice/snapshot.h>, 0 if the kernel lacks the interface or
 * implements an older version, or a negative errno (-EPROTO, or a read
 * error) if the version file exists but cannot be read or parsed. Issues
 * none of the snapshot system calls.
 */
int spice_supported(void);

/*
 * spice_kernel_flags - the flags the running kernel accepts for a call
 * @call:  which system call
 * @flags: receives the mask of the flags that call accepts
 *
 * Reads /sys/kernel/snapshot/{capture,restore,populate}_flags. Returns 0
 * and sets *@flags on success; -EINVAL if @call is not a spice_call or
 * @flags is NULL, -ENOSYS if the kernel lacks the interface, -EPROTO if the
 * file does not hold a 0x-prefixed hexadecimal number (optionally followed
 * by a newline), or another negative errno if it cannot be read. *@flags is
 * left untouched on failure.
 */
int spice_kernel_flags(enum spice_call call, uint64_t *flags);

/*
 * Raw system call wrappers.
 *
 * Each one first checks, as spice_supported() does, that the kernel
 * implements the interface: if it does not they return -ENOSYS without
 * entering the kernel (or the negative errno spice_supported() returned).
 * Otherwise they pass @args and @size to the system call unchanged and
 * return its result, or -errno if it failed. @args is not checked: a NULL
 * @args with a nonzero @size is left to the kernel, which fails with
 * -EFAULT. @size is normally sizeof(*args); see <spice/snapshot.h> for the
 * structures and their flags.
 */

/*
 * spice_sys_snapshot_capture - write an image of a process
 *
 * Returns 0 once the image is written and SNAPSHOT_RESUMED when the caller
 * runs again restored from an image of itself; -errno on failure.
 */
long spice_sys_snapshot_capture(struct snapshot_capture_args *args,
				size_t size);

/*
 * spice_sys_snapshot_restore - replace the caller with the process in an image
 *
 * Does not return on success; returns -errno on failure.
 */
long spice_sys_snapshot_restore(struct snapshot_restore_args *args,
				size_t size);

/*
 * spice_sys_mmap_populate_image - map memory filled from an image file
 *
 * Returns the start address of the mapping on success, -errno on failure.
 */
long spice_sys_mmap_populate_image(struct mmap_populate_args *args,
				   size_t size);

/*
 * spice_populate - map memory filled from an image file (since 0.2)
 * @fd:         the image file, open for reading
 * @extents:    @nr_extents extents, sorted by target_off, not overlapping
 * @nr_extents: number of extents, at most MMAP_POPULATE_MAX_EXTENTS
 * @addr:       where to map; a hint unless a FIXED flag is set, and in fill
 *              mode the start of the range to fill
 * @len:        length of the mapping in bytes
 * @prot:       PROT_READ, PROT_WRITE and PROT_EXEC; 0 in fill mode
 * @flags:      MMAP_POPULATE_* flags; 0 for copy mode
 * @mapped:     receives the start address of the mapping
 *
 * Issues mmap_populate_image() with a struct mmap_populate_args built from
 * the arguments (extent_size is sizeof(struct mmap_populate_extent)), through
 * the same check as spice_sys_mmap_populate_image(): on a kernel without the
 * interface it returns -ENOSYS without entering the kernel.
 *
 * In copy mode (no mode flag) the mapping is new private anonymous memory,
 * filled from the image; ranges no extent covers read as zero.
 * MMAP_POPULATE_FIXED and MMAP_POPULATE_FIXED_NOREPLACE place it at @addr as
 * MAP_FIXED and MAP_FIXED_NOREPLACE do. MMAP_POPULATE_SHARE_CACHE maps the
 * image's page cache copy-on-write instead. MMAP_POPULATE_FILL fills
 * [@addr, @addr + @len) of an existing private mapping instead of creating
 * one; what no extent covers is left alone.
 *
 * The arguments are checked first, in the kernel's order, and the system
 * call is not issued if one of these checks fails; each gives the error the
 * kernel would: -EINVAL for a NULL @mapped, unknown flags,
 * both FIXED flags, MMAP_POPULATE_FILL with a FIXED flag,
 * MMAP_POPULATE_SHARE_CACHE or a nonzero @prot, other @prot bits, a @len of
 * 0, an @addr off a page boundary with a FIXED flag or MMAP_POPULATE_FILL, or
 * an extent with an unknown kind or flag, a len of 0, a target_off, len or
 * file_off off a page boundary, or that ends beyond @len, comes before the
 * end of the previous one or overflows; -E2BIG for more than
 * MMAP_POPULATE_MAX_EXTENTS extents, -EBADF for a negative @fd and -EFAULT
 * for a NULL @extents with a nonzero @nr_extents. The extents are read in
 * the process, so @extents must point to @nr_extents readable extents. The
 * checks that need the file (its type, mode and size) or the address space
 * are left to the kernel.
 *
 * Returns 0 and sets *@mapped on success, or a negative errno: one of the
 * above, a spice_sys_mmap_populate_image() error, or the system call's.
 * *@mapped is left untouched on failure, and errno always.
 */
int spice_populate(int fd, const struct mmap_populate_extent *extents,
		   uint32_t nr_extents, void *addr, size_t len, int prot,
		   uint64_t flags, void **mapped);

/*
 * Capture (since 0.3)
 */

/* What a capture returns in the process restored from an image of itself. */
#define SPICE_RESUMED	SNAPSHOT_RESUMED

/*
 * spice_capture_self - write an image of the calling process
 * @image_fd: regular file open for writing that receives the image
 * @flags:    0 or SNAPSHOT_CAPTURE_WORKING_SET
 * @reason:   filled in when the capture fails with -EOPNOTSUPP; may be NULL
 *
 * Issues snapshot_capture() through spice_sys_snapshot_capture(), so it
 * returns -ENOSYS without entering the kernel where the interface is
 * missing. The arguments are checked first and no system call is issued if
 * they are wrong: -EINVAL for flags other than SNAPSHOT_CAPTURE_WORKING_SET
 * (SNAPSHOT_CAPTURE_PIDFD included), -EBADF for a negative @image_fd.
 *
 * Returns 0 once the image is written, SPICE_RESUMED when the process runs
 * again restored from the image, or a negative errno: one of the above, a
 * spice_sys_snapshot_capture() error, the system call's (e.g. -EOPNOTSUPP
 * with *@reason filled in), or -EPROTO if the call returned a value it
 * never returns. errno is left alone.
 */
int spice_capture_self(int image_fd, uint64_t flags,
		       struct snapshot_reason *reason);

/*
 * spice_capture_pid - write an image of another, stopped process
 * @pid:      the process; it must be stopped (SIGSTOP), not traced
 * @image_fd: regular file open for writing that receives the image
 * @flags:    0 or SNAPSHOT_CAPTURE_WORKING_SET
 * @reason:   filled in when the capture fails with -EOPNOTSUPP; may be NULL
 *
 * Opens a pidfd for @pid with pidfd_open(2), issues snapshot_capture() with
 * SNAPSHOT_CAPTURE_PIDFD through spice_sys_snapshot_capture(), and closes
 * the pidfd. The arguments are checked first, as for spice_capture_self(),
 * and -EINVAL is returned for a @pid that is not positive; the interface
 * is checked next (-ENOSYS); neither pidfd_open(2) nor the capture is
 * issued when a check fails.
 *
 * Returns 0 once the image is written or a negative errno: one of the
 * above, pidfd_open(2)'s (-ESRCH: no such process), the system call's, or
 * -EPROTO if the call returned a value it never returns (SNAPSHOT_RESUMED
 * included: only a self capture resumes). errno is left alone.
 */
int spice_capture_pid(pid_t pid, int image_fd, uint64_t flags,
		      struct snapshot_reason *reason);

/*
 * Restore (since 0.4)
 *
 * snapshot_restore() replaces the calling process with the process in an
 * image, the way execve(2) replaces it with a program: on success the call
 * does not return, and the process -- same pid, same parent, same
 * credentials -- goes on as the captured one from where it was captured (an
 * image a process took of itself with spice_capture_self() resumes as a
 * return from that call with SPICE_RESUMED).
 *
 * The restored process's file descriptors are not the caller's: the
 * image's regular files are reopened by path (-ESTALE if one is not the
 * file that was captured); its descriptors 0, 1 and 2 are the caller's
 * descriptors of the same numbers, whatever the captured process had there
 * (none where the caller has none); each entry of the fd map installs a
 * descriptor of the caller at a number of the restored process, in place
 * of whatever the image has there. No other descriptor of the caller is
 * kept, close-on-exec or not.
 *
 * The caller must be single-threaded (-EBUSY otherwise): a program with
 * threads restores in a child, as spice_spawn() does.
 */

/* Flags of spice_restore() and spice_spawn(). */
/* Share the image's page cache for private memory, copied on write. */
#define SPICE_RESTORE_SHARE_CACHE	SNAPSHOT_RESTORE_SHARE_CACHE
/* Read the pages outside the working set on first touch, not up front. */
#define SPICE_RESTORE_LAZY		SNAPSHOT_RESTORE_LAZY

/* The largest number of fd map entries; more is -E2BIG. */
#define SPICE_RESTORE_MAX_FD_MAP	SNAPSHOT_RESTORE_MAX_FD_MAP

/*
 * struct spice_fd_map - a descriptor of the caller for the restored process
 * @image_fd:  its number in the restored process
 * @caller_fd: the caller's descriptor installed there
 *
 * The layout of the kernel's struct snapshot_fd_map. The descriptor is
 * installed without FD_CLOEXEC, whatever its flag in the image.
 */
struct spice_fd_map {
	int image_fd;
	int caller_fd;
};

/*
 * spice_restore - replace the calling process with the process in an image
 * @image_fd: the image, open for reading
 * @flags:    0, SPICE_RESTORE_SHARE_CACHE, SPICE_RESTORE_LAZY, or both
 * @map:      @nr_map descriptors to install; may be NULL if @nr_map is 0
 * @nr_map:   number of entries at @map, at most SPICE_RESTORE_MAX_FD_MAP
 *
 * Issues snapshot_restore() through spice_sys_snapshot_restore(), so it
 * returns -ENOSYS without entering the kernel where the interface is
 * missing. Does not return on success (see "Restore" above).
 *
 * The arguments are checked first, in the kernel's order, and the system
 * call is not issued if one of these checks fails; each gives the error the
 * kernel would: -EINVAL for unknown flags, a NULL @map with a nonzero
 * @nr_map, a negative @image_fd in an entry or the @image_fd of an earlier
 * entry; -E2BIG for more than SPICE_RESTORE_MAX_FD_MAP entries; -EBADF for
 * a negative @caller_fd or @image_fd. @map must point to @nr_map readable
 * entries. The kernel checks the caller's threads (-EBUSY) before the fd
 * map, and whether the descriptors are open after it.
 *
 * Returns only on failure, with a negative errno: one of the above, a
 * spice_sys_snapshot_restore() error, or the system call's, with the caller
 * untouched: -EBUSY (other threads), -EBADF (@image_fd not open for
 * reading, a @caller_fd not open), -EINVAL (not a regular file, a
 * malformed image), -ENOEXEC (not an image), -EBADMSG (a checksum),
 * -EOPNOTSUPP (an image or a flag this kernel cannot restore: version,
 * architecture, vDSO layout, XSAVE features), -ESTALE (a file the image
 * refers to has changed), -EPERM (resource limits above the caller's), an
 * error of open(2) for a file the image refers to, -ENOMEM. -EPROTO if the
 * call returned without an error. errno is left alone.
 */
int spice_restore(int image_fd, uint64_t flags,
		  const struct spice_fd_map *map, unsigned int nr_map);

/*
 * spice_spawn - start a new process restored from an image
 * @image_fd: the image, open for reading
 * @flags:    as for spice_restore()
 * @map:      as for spice_restore(): descriptors of the caller to install
 * @nr_map:   as for spice_restore()
 *
 * Starts a child that calls snapshot_restore(), the way posix_spawn(3)
 * starts one that calls execve(2): the child shares the caller's memory,
 * on a stack of its own, and the calling thread is suspended until the
 * restore has given the child its own (clone(2) with CLONE_VM |
 * CLONE_VFORK), so that the caller's page tables are not copied, as fork(2)
 * would, only to be thrown away. It tells the caller synchronously
 * whether the restore succeeded: the child reports a failure through a
 * close-on-exec pipe (whose write end the restore closes on success, with
 * the rest of the file table) and exits with status 127; the caller reaps
 * it and returns the error, leaving no child behind. The child blocks
 * every signal until the restore sets the image's mask, so that no signal
 * handler of the caller runs in it. The caller may have threads (but a
 * child another thread forks meanwhile, and that neither execs nor
 * restores, inherits the pipe, and a successful spice_spawn() returns only
 * once that child has exited).
 *
 * The arguments are checked first, as by spice_restore(), and then that
 * @image_fd and every @caller_fd are open (-EBADF otherwise), and that the
 * kernel implements the interface (-ENOSYS otherwise), before anything
 * else is done: no child is started when a check fails.
 *
 * Returns the pid of the child, the restored process, which is the
 * caller's child to wait for (its exit status is the restored process's;
 * if it dies before the restore is done -- SIGKILL -- the caller sees
 * that instead), or a negative errno: one of the above, an error of
 * pipe2(2), mmap(2) or clone(2), one spice_restore() returns in the
 * child, or -EPROTO for a report that makes no sense. errno is left
 * alone.
 */
pid_t spice_spawn(int image_fd, uint64_t flags,
		  const struct spice_fd_map *map, unsigned int nr_map);

/*
 * Image reader (since 0.3)
 *
 * An image is opened, checked in full (every rule of the "Image format" part
 * of <spice/snapshot.h>: bounds, checksums, sorting, indices, strings) and
 * its metadata copied into memory; the page data stays in the file and is
 * read with spice_image_read_data(). An open image is read-only: any number
 * of threads may use it at once, until spice_image_close().
 *
 * The opening functions return 0 and set *@img, or a negative errno and
 * fill in *@err (when @err is not NULL) with a SPICE_IMAGE_E_* code and a
 * message naming the field at fault, for example "extent 12: overlaps
 * extent 11". The errno tells the class of the problem:
 *
 *   -ENOEXEC     not an image: bad magic (SPICE_IMAGE_E_MAGIC)
 *   -EOPNOTSUPP  an image this reader cannot read: version, header_size,
 *                arch, page size other than this system's, unknown section
 *                flagged SNAPSHOT_SECTION_REQUIRED
 *   -EBADMSG     a checksum does not match (SPICE_IMAGE_E_CSUM)
 *   -EINVAL      anything else malformed, a truncated file included, or a
 *                bad argument (SPICE_IMAGE_E_ARG)
 *   -ENOMEM      out of memory (SPICE_IMAGE_E_NOMEM)
 *   other        reading the file failed: the error of open(2), fstat(2) or
 *                pread(2), or -EIO if the file shrank (SPICE_IMAGE_E_IO)
 *
 * None of the functions uses errno to report an error, and all of them
 * leave it as they found it.
 */

struct spice_image;

/* The codes of struct spice_image_error; the errno each goes with. */
enum spice_image_errcode {
	SPICE_IMAGE_E_NONE = 0,		/* no error */
	SPICE_IMAGE_E_ARG,		/* bad argument, not a regular file */
	SPICE_IMAGE_E_IO,		/* reading failed */
	SPICE_IMAGE_E_NOMEM,		/* -ENOMEM */
	SPICE_IMAGE_E_MAGIC,		/* -ENOEXEC: not an image */
	SPICE_IMAGE_E_VERSION,		/* -EOPNOTSUPP: version, header_size */
	SPICE_IMAGE_E_ARCH,		/* -EOPNOTSUPP: arch */
	SPICE_IMAGE_E_PAGE_SIZE,	/* -EOPNOTSUPP: page_size */
	SPICE_IMAGE_E_UNKNOWN_SECTION,	/* -EOPNOTSUPP: unknown, required */
	SPICE_IMAGE_E_CSUM,		/* -EBADMSG: a checksum mismatch */
	SPICE_IMAGE_E_SIZE,		/* -EINVAL: file too short, or size */
					/* other than image_size */
	SPICE_IMAGE_E_HEADER,		/* -EINVAL: a header field */
	SPICE_IMAGE_E_SECTION,		/* -EINVAL: section table, descriptor */
					/* (bounds, overlap, sizes, counts) */
	SPICE_IMAGE_E_MISSING,		/* -EINVAL: a required section absent */
	SPICE_IMAGE_E_RESERVED,		/* -EINVAL: reserved field or bytes */
					/* past a known record not zero */
	SPICE_IMAGE_E_STRING,		/* -EINVAL: strings blob, string offset */
	SPICE_IMAGE_E_TASK,		/* -EINVAL: the task record */
	SPICE_IMAGE_E_MM,		/* -EINVAL: the mm record */
	SPICE_IMAGE_E_VMA,		/* -EINVAL: a VMA */
	SPICE_IMAGE_E_EXTENT,		/* -EINVAL: an extent */
	SPICE_IMAGE_E_FILE,		/* -EINVAL: a file */
	SPICE_IMAGE_E_FD,		/* -EINVAL: a file descriptor */
	SPICE_IMAGE_E_AUXV,		/* -EINVAL: the auxiliary vector */
	SPICE_IMAGE_E_FILE_WS,		/* -EINVAL: file working set (0.5) */
};

/* Why an image could not be opened. */
struct spice_image_error {
	int code;		/* SPICE_IMAGE_E_* */
	char msg[160];		/* NUL-terminated, one line, no final period */
};

/*
 * spice_image_open - open and check the image file at @path
 * @path: the file
 * @img:  receives the image, for spice_image_close()
 * @err:  receives the reason on failure; may be NULL
 *
 * The file must be a regular file; it stays open (O_CLOEXEC) until
 * spice_image_close(). Returns 0 or a negative errno (see above; -EINVAL
 * for a NULL @path or @img). On success *@err, if given, has the code
 * SPICE_IMAGE_E_NONE and an empty message; on failure *@img is untouched.
 */
int spice_image_open(const char *path, struct spice_image **img,
		     struct spice_image_error *err);

/*
 * spice_image_open_fd - open and check the image file @fd refers to
 *
 * As spice_image_open(), for a file the caller has open for reading. The
 * image keeps a duplicate of @fd (F_DUPFD_CLOEXEC) and reads it with
 * pread(2) only: the caller keeps @fd, whose file offset is not used or
 * moved, and may close it at any time. -EBADF for a negative @fd.
 */
int spice_image_open_fd(int fd, struct spice_image **img,
			struct spice_image_error *err);

/*
 * spice_image_open_mem - check the image in the @len bytes at @buf
 *
 * As spice_image_open(), for an image in memory (a fuzzer's input, a test).
 * The metadata is copied: the accessors do not use @buf. The page data is
 * not: spice_image_read_data() copies it from @buf, which must stay valid
 * and unchanged for that as long as the image is open. -EINVAL for a NULL
 * @buf with a nonzero @len.
 */
int spice_image_open_mem(const void *buf, size_t len,
			 struct spice_image **img,
			 struct spice_image_error *err);

/*
 * spice_image_close - free an image and close its file
 *
 * Every pointer the accessors returned becomes invalid. NULL is ignored.
 */
void spice_image_close(struct spice_image *img);

/*
 * Accessors. All of them take an image that spice_image_open*() returned.
 *
 * The record accessors copy record @i of a section into *@out, zero-filling
 * the fields of the structure past the section's entry_size (a record
 * written by an older writer). They return 0, -EINVAL for a NULL @img or
 * @out, or -ERANGE for an @i not below the count the matching
 * spice_image_nr_*() returns (0 for a NULL @img). The pointers returned
 * point into the image and stay valid until spice_image_close().
 */

/* spice_image_header - the header, as read (NULL for a NULL @img) */
const struct snapshot_image_header *
spice_image_header(const struct spice_image *img);

/*
 * spice_image_nr_sections, spice_image_section - the section descriptors,
 * in the order of the section table, unknown ones included
 *
 * spice_image_section() returns descriptor @i as struct
 * snapshot_image_section, or NULL if @i is out of range.
 */
size_t spice_image_nr_sections(const struct spice_image *img);
const struct snapshot_image_section *
spice_image_section(const struct spice_image *img, size_t i);

/* spice_image_nr_vmas, spice_image_vma - the memory map, sorted by start */
size_t spice_image_nr_vmas(const struct spice_image *img);
int spice_image_vma(const struct spice_image *img, size_t i,
		    struct snapshot_image_vma *out);

/* spice_image_nr_extents, spice_image_extent - stored pages, by address */
size_t spice_image_nr_extents(const struct spice_image *img);
int spice_image_extent(const struct spice_image *img, size_t i,
		       struct snapshot_image_extent *out);

/* spice_image_nr_files, spice_image_file - the file table */
size_t spice_image_nr_files(const struct spice_image *img);
int spice_image_file(const struct spice_image *img, size_t i,
		     struct snapshot_image_file *out);

/* spice_image_nr_fds, spice_image_fd - open descriptors, sorted by fd */
size_t spice_image_nr_fds(const struct spice_image *img);
int spice_image_fd(const struct spice_image *img, size_t i,
		   struct snapshot_image_fd *out);

/* spice_image_nr_sigactions, spice_image_sigaction - signal N at N - 1 */
size_t spice_image_nr_sigactions(const struct spice_image *img);
int spice_image_sigaction(const struct spice_image *img, size_t i,
			  struct snapshot_image_sigaction *out);

/* spice_image_nr_rlimits, spice_image_rlimit - RLIMIT_* at its index */
size_t spice_image_nr_rlimits(const struct spice_image *img);
int spice_image_rlimit(const struct spice_image *img, size_t i,
		       struct snapshot_image_rlimit *out);

/*
 * spice_image_nr_file_ws, spice_image_file_ws - the file pages of the
 * working set, sorted by address (since 0.5): runs of file pages the
 * process had mapped with the accessed bit set, which a restore reads
 * ahead and maps. The section is optional; without it there are none.
 */
size_t spice_image_nr_file_ws(const struct spice_image *img);
int spice_image_file_ws(const struct spice_image *img, size_t i,
			struct snapshot_image_file_ws *out);

/*
 * spice_image_nr_auxv, spice_image_auxv - the auxiliary vector, as its
 * __u64 values: key, value, key, value, ..., AT_NULL, value
 */
size_t spice_image_nr_auxv(const struct spice_image *img);
int spice_image_auxv(const struct spice_image *img, size_t i, uint64_t *out);

/* spice_image_task, spice_image_mm, spice_image_regs - the one record */
int spice_image_task(const struct spice_image *img,
		     struct snapshot_image_task *out);
int spice_image_mm(const struct spice_image *img,
		   struct snapshot_image_mm *out);
int spice_image_regs(const struct spice_image *img,
		     struct snapshot_image_regs *out);

/*
 * spice_image_xsave - the XSAVE area
 *
 * Returns a pointer to its bytes and sets *@size (if @size is not NULL) to
 * their number; NULL and 0 for a NULL @img. The pointer is not aligned for
 * XRSTOR: copy the bytes first.
 */
const void *spice_image_xsave(const struct spice_image *img, size_t *size);

/*
 * spice_image_string - the string at offset @off of the strings section
 *
 * Returns the NUL-terminated string, or NULL for SNAPSHOT_IMAGE_NONE, an
 * offset past the section or a NULL @img.
 */
const char *spice_image_string(const struct spice_image *img, uint32_t off);

/*
 * spice_image_read_data - read the stored pages of an extent
 * @e:   the extent, normally one spice_image_extent() returned
 * @buf: receives the data
 * @len: size of @buf; at most @e->len bytes are read
 *
 * Reads the first min(@len, @e->len) bytes at @e->data_off: with pread(2)
 * from the file, or copied from the buffer of spice_image_open_mem().
 * Returns the number of bytes read, or -EINVAL for a NULL @img or @e, a
 * NULL @buf with a nonzero @len, or an extent whose data is not inside the
 * data area; -EIO if the file ended early (it shrank); or pread(2)'s
 * -errno. errno is left alone.
 */
ssize_t spice_image_read_data(const struct spice_image *img,
			      const struct snapshot_image_extent *e,
			      void *buf, size_t len);

/*
 * spice_image_section_name - the name of a SNAPSHOT_SECTION_* type
 *
 * "task", "mm", "vmas", "extents", "files", "fds", "regs", "xsave",
 * "sigactions", "rlimits", "auxv" or "strings"; NULL for another @type.
 */
const char *spice_image_section_name(uint32_t type);

/*
 * spice_image_reason_name - the name of a SNAPSHOT_REASON_* code
 *
 * The macro's name past SNAPSHOT_REASON_, in lower case: "threads",
 * "ptraced", "fd_socket", ..., "vma_other"; NULL for another @code (0
 * included: no reason was given).
 */
const char *spice_image_reason_name(uint32_t code);

#ifdef __cplusplus
}
#endif

#endif /* SPICE_H */
