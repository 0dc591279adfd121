/* A cut of linux/audit.h written for the auditd loader's tests. */
#define AUDIT_GET		1000	/* Get status */
#define AUDIT_FIRST_USER_MSG	1100	/* Userspace messages mostly uninteresting to kernel */
#define AUDIT_USER_AUTH		1100	/* User space authentication */
#define AUDIT_LAST_USER_MSG	1199
#define AUDIT_SYSCALL		1300	/* Syscall event */
/* #define AUDIT_FS_WATCH	1301	 * Deprecated */
#define AUDIT_EXECVE		1309	/* execve arguments */
#define AUDIT_ARCH_X86_64	(EM_X86_64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE)
#define AUDIT_BITMASK_SIZE 64
