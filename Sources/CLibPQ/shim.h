#ifndef HANDOFF_CLIBPQ_SHIM_H
#define HANDOFF_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#ifdef __linux__
/* The socket poller waits on every connection's socket with epoll, which Swift's Glibc module leaves out. */
#include <sys/epoll.h>
#endif
#endif
