/*
 * deny-io-uring ERRNO COMMAND [ARGS...]
 *
 * Runs COMMAND under a seccomp filter that fails io_uring_setup(2) with ERRNO (EPERM, ENOSYS, ...), the way
 * Docker's and containerd's default profiles do, and allows every other system call. The io_uring transport's
 * fallback test starts the sample through it: the transport must serve through epoll and say why.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

static int errno_named(const char *name)
{
    if (strcmp(name, "EPERM") == 0) return EPERM;
    if (strcmp(name, "ENOSYS") == 0) return ENOSYS;
    if (strcmp(name, "EACCES") == 0) return EACCES;
    if (strcmp(name, "ENOMEM") == 0) return ENOMEM;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || errno_named(argv[1]) < 0) {
        fprintf(stderr, "usage: deny-io-uring EPERM|ENOSYS|EACCES|ENOMEM COMMAND [ARGS...]\n");
        return 2;
    }
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (errno_named(argv[1]) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("deny-io-uring: installing the seccomp filter");
        return 3;
    }
    execvp(argv[2], argv + 2);
    perror("deny-io-uring: exec");
    return 4;
}
