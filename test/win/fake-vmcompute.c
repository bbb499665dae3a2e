/*
 * A fake vmcompute.dll for the Wine tests (test/windows-wine.test.js). It exports the HCS
 * v1 functions the hcs backend binds (windows-host.md §a.2) and answers as HCS does:
 * create, start and terminate return HCS_E_OPERATION_PENDING and the completion (or the
 * exit) is delivered later by a thread of its own through the registered callback;
 * results and properties are CoTaskMemAlloc'ed UTF-16 JSON; processes get real named
 * pipes (our ends overlapped, as HCS hands them out) served by a thread that plays a few
 * guest commands. Every call is appended to the file named by FAKE_HCS_LOG, with its JSON.
 *
 * Behaviour is chosen by the system id: "failcreate" fails the create with an error
 * document, "neverstart" never completes the start, "exitstart" exits during the start,
 * "noexit" never reports the exit after terminate. A host path containing "baddisk"
 * fails the hot add with ERROR_FILE_NOT_FOUND.
 *
 * Guest commands: "echo <text>" (text and a newline on stdout), "cat" (stdin to stdout),
 * "fail <code> <text>" (text on stderr, exit code), "hang" (until HcsTerminateProcess),
 * and a little of the remotefs tool (spec/driver.md §9): "remotefs stat <path>" (a file
 * named hostname exists, anything else is ENOENT as error JSON on stderr) and
 * "remotefs openfile <path> <flag> <perm>" (the framed protocol over a file in memory that
 * starts as "box\n"; flag 0 refuses writes with EBADF).
 */
#include <windows.h>
#include <objbase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HCS_E_OPERATION_PENDING ((HRESULT)0xC0370103L)
#define HCS_E_INVALID_JSON ((HRESULT)0xC037010DL)
#define HCS_E_SYSTEM_NOT_FOUND ((HRESULT)0xC037010EL)

typedef void(CALLBACK *HCS_NOTIFICATION_CALLBACK)(DWORD type, void *context, HRESULT status, PCWSTR data);
typedef struct { DWORD ProcessId; DWORD Reserved; HANDLE StdInput; HANDLE StdOutput; HANDLE StdError; } HCS_PROCESS_INFORMATION;

typedef struct {
  CRITICAL_SECTION lock; /* held while the callback runs, so unregistering waits for it */
  HCS_NOTIFICATION_CALLBACK callback;
  void *context;
} Notifier;

typedef struct {
  Notifier notifier;
  char id[256];
  int running;
  char disks[16][512];
  int diskCount;
} FakeSystem;

typedef struct {
  Notifier notifier;
  DWORD pid;
  char command[1024];
  HANDLE guestIn, guestOut, guestErr; /* the guest's ends */
  HANDLE stop;
  volatile LONG exited;
  DWORD exitCode;
} FakeProcess;

static CRITICAL_SECTION logLock;
static LONG nextPid = 500, nextPipe = 0;

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
  (void)instance; (void)reserved;
  if (reason == DLL_PROCESS_ATTACH) InitializeCriticalSection(&logLock);
  return TRUE;
}

static char *utf8(PCWSTR text) {
  if (!text) return _strdup("(null)");
  int size = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
  char *out = malloc(size);
  WideCharToMultiByte(CP_UTF8, 0, text, -1, out, size, NULL, NULL);
  return out;
}

static PWSTR cotask(const char *text) {
  int size = MultiByteToWideChar(CP_UTF8, 0, text, -1, NULL, 0);
  PWSTR out = CoTaskMemAlloc(size * sizeof(WCHAR));
  MultiByteToWideChar(CP_UTF8, 0, text, -1, out, size);
  return out;
}

static void logLine(const char *call, const char *target, PCWSTR document) {
  char *json = utf8(document);
  EnterCriticalSection(&logLock);
  const char *path = getenv("FAKE_HCS_LOG");
  FILE *file = path ? fopen(path, "ab") : NULL;
  if (file) {
    fprintf(file, "%s\t%s\t%s\n", call, target, json);
    fclose(file);
  }
  LeaveCriticalSection(&logLock);
  free(json);
}

/* Waits until a callback is registered (HCS holds notifications until then), then calls it. */
static void notify(Notifier *notifier, DWORD type, HRESULT status, const char *data) {
  for (int i = 0; i < 500; i++) {
    EnterCriticalSection(&notifier->lock);
    if (notifier->callback) {
      PWSTR wide = data ? cotask(data) : NULL;
      notifier->callback(type, notifier->context, status, wide);
      LeaveCriticalSection(&notifier->lock);
      if (wide) CoTaskMemFree(wide);
      return;
    }
    LeaveCriticalSection(&notifier->lock);
    Sleep(10);
  }
}

typedef struct { Notifier *notifier; DWORD type; DWORD delay; } Later;

static DWORD WINAPI laterThread(LPVOID argument) {
  Later *later = argument;
  Sleep(later->delay);
  notify(later->notifier, later->type, 0, NULL);
  free(later);
  return 0;
}

static void notifyLater(Notifier *notifier, DWORD type) {
  Later *later = malloc(sizeof *later);
  later->notifier = notifier; later->type = type; later->delay = 20;
  CloseHandle(CreateThread(NULL, 0, laterThread, later, 0, NULL));
}

static void setResult(PWSTR *result, const char *json) {
  if (result) *result = json ? cotask(json) : NULL;
}

__declspec(dllexport) HRESULT WINAPI HcsCreateComputeSystem(PCWSTR id, PCWSTR configuration, HANDLE identity, FakeSystem **computeSystem, PWSTR *result) {
  char *name = utf8(id);
  logLine("HcsCreateComputeSystem", name, configuration);
  *computeSystem = NULL;
  setResult(result, NULL);
  if (identity) { free(name); return E_INVALIDARG; }
  if (strstr(name, "failcreate")) {
    free(name);
    setResult(result, "{\"Error\":-1070137075,\"ErrorMessage\":\"The JSON document is invalid.\",\"ErrorEvents\":[{\"Message\":\"fake: unknown field\",\"Provider\":\"fake\"}]}");
    return HCS_E_INVALID_JSON;
  }
  FakeSystem *system = calloc(1, sizeof *system);
  InitializeCriticalSection(&system->notifier.lock);
  strncpy(system->id, name, sizeof system->id - 1);
  free(name);
  *computeSystem = system;
  notifyLater(&system->notifier, 0x2 /* CreateCompleted */);
  return HCS_E_OPERATION_PENDING;
}

__declspec(dllexport) HRESULT WINAPI HcsStartComputeSystem(FakeSystem *system, PCWSTR options, PWSTR *result) {
  logLine("HcsStartComputeSystem", system->id, options);
  setResult(result, NULL);
  if (strstr(system->id, "neverstart")) return HCS_E_OPERATION_PENDING;
  if (strstr(system->id, "exitstart")) { notifyLater(&system->notifier, 0x1 /* Exited */); return HCS_E_OPERATION_PENDING; }
  system->running = 1;
  notifyLater(&system->notifier, 0x3 /* StartCompleted */);
  return HCS_E_OPERATION_PENDING;
}

__declspec(dllexport) HRESULT WINAPI HcsTerminateComputeSystem(FakeSystem *system, PCWSTR options, PWSTR *result) {
  logLine("HcsTerminateComputeSystem", system->id, options);
  setResult(result, NULL);
  system->running = 0;
  if (!strstr(system->id, "noexit")) notifyLater(&system->notifier, 0x1 /* Exited */);
  return HCS_E_OPERATION_PENDING;
}

/* The value of "key":"..." in json (no escapes in the tests' paths beyond \\). */
static void field(const char *json, const char *key, char *out, size_t size) {
  out[0] = 0;
  const char *at = strstr(json, key);
  if (!at) return;
  at += strlen(key);
  size_t n = 0;
  while (*at && *at != '"' && n + 1 < size) {
    if (*at == '\\' && at[1]) at++;
    out[n++] = *at++;
  }
  out[n] = 0;
}

__declspec(dllexport) HRESULT WINAPI HcsModifyComputeSystem(FakeSystem *system, PCWSTR configuration, PWSTR *result) {
  logLine("HcsModifyComputeSystem", system->id, configuration);
  setResult(result, NULL);
  if (!system->running) return HCS_E_SYSTEM_NOT_FOUND;
  char *json = utf8(configuration), hostPath[512], request[32];
  field(json, "\"HostPath\":\"", hostPath, sizeof hostPath);
  field(json, "\"RequestType\":\"", request, sizeof request);
  free(json);
  if (strstr(hostPath, "baddisk")) {
    setResult(result, "{\"Error\":-2147024894,\"ErrorMessage\":\"The system cannot find the file specified.\"}");
    return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
  }
  if (strcmp(request, "Add") == 0 && system->diskCount < 16) {
    strcpy(system->disks[system->diskCount++], hostPath);
  } else if (strcmp(request, "Remove") == 0) {
    for (int i = 0; i < system->diskCount; i++) if (strcmp(system->disks[i], hostPath) == 0) system->disks[i][0] = 0;
  }
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsGetComputeSystemProperties(FakeSystem *system, PCWSTR query, PWSTR *properties, PWSTR *result) {
  logLine("HcsGetComputeSystemProperties", system->id, query);
  setResult(result, NULL);
  char json[16384] = "{\"MappedVirtualDiskControllers\":{\"0\":{\"MappedVirtualDisks\":{";
  int first = 1;
  for (int i = 0; i < system->diskCount; i++) {
    if (!system->disks[i][0]) continue;
    char entry[1200], escaped[1024];
    size_t n = 0;
    for (const char *c = system->disks[i]; *c && n + 2 < sizeof escaped; c++) {
      if (*c == '\\') escaped[n++] = '\\';
      escaped[n++] = *c;
    }
    escaped[n] = 0;
    snprintf(entry, sizeof entry, "%s\"%d\":{\"HostPath\":\"%s\",\"ContainerPath\":\"\"}", first ? "" : ",", i, escaped);
    strncat(json, entry, sizeof json - strlen(json) - 1);
    first = 0;
  }
  strncat(json, "}}}}", sizeof json - strlen(json) - 1);
  *properties = cotask(json);
  return S_OK;
}

typedef struct { Notifier *notifier; char target[256]; } CallbackHandle;

static HRESULT registerOn(Notifier *notifier, const char *call, const char *target, HCS_NOTIFICATION_CALLBACK callback, void *context, CallbackHandle **handle) {
  logLine(call, target, NULL);
  EnterCriticalSection(&notifier->lock);
  notifier->callback = callback;
  notifier->context = context;
  LeaveCriticalSection(&notifier->lock);
  *handle = calloc(1, sizeof **handle);
  (*handle)->notifier = notifier;
  snprintf((*handle)->target, sizeof (*handle)->target, "%s", target);
  return S_OK;
}

static HRESULT unregisterOn(CallbackHandle *handle, const char *call) {
  logLine(call, handle->target, NULL);
  EnterCriticalSection(&handle->notifier->lock);
  handle->notifier->callback = NULL;
  LeaveCriticalSection(&handle->notifier->lock);
  free(handle);
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsRegisterComputeSystemCallback(FakeSystem *system, HCS_NOTIFICATION_CALLBACK callback, void *context, CallbackHandle **handle) {
  return registerOn(&system->notifier, "HcsRegisterComputeSystemCallback", system->id, callback, context, handle);
}

__declspec(dllexport) HRESULT WINAPI HcsUnregisterComputeSystemCallback(CallbackHandle *handle) {
  return unregisterOn(handle, "HcsUnregisterComputeSystemCallback");
}

__declspec(dllexport) HRESULT WINAPI HcsCloseComputeSystem(FakeSystem *system) {
  logLine("HcsCloseComputeSystem", system->id, NULL);
  return S_OK;
}

/*
 * A pipe: the guest's end is the server (synchronous), ours the client, opened overlapped
 * as HCS hands them out. (With our end as the server, Wine drops what is still buffered
 * when we close it after writing, so a guest could miss the tail of its input.)
 */
static BOOL makePipe(BOOL hostWrites, HANDLE *hostEnd, HANDLE *guestEnd) {
  WCHAR name[128];
  swprintf(name, 128, L"\\\\.\\pipe\\fake-hcs-%lu-%ld", GetCurrentProcessId(), InterlockedIncrement(&nextPipe));
  *guestEnd = CreateNamedPipeW(name, (hostWrites ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_FIRST_PIPE_INSTANCE,
                               PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536, 65536, 0, NULL);
  if (*guestEnd == INVALID_HANDLE_VALUE) return FALSE;
  *hostEnd = CreateFileW(name, hostWrites ? GENERIC_WRITE : GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
  return *hostEnd != INVALID_HANDLE_VALUE;
}

static void writeAll(HANDLE pipe, const char *data, DWORD length) {
  DWORD written;
  while (length > 0 && WriteFile(pipe, data, length, &written, NULL)) { data += written; length -= written; }
}

static BOOL readExactly(HANDLE pipe, unsigned char *data, DWORD length) {
  DWORD got;
  while (length > 0) {
    if (!ReadFile(pipe, data, length, &got, NULL) || got == 0) return FALSE;
    data += got;
    length -= got;
  }
  return TRUE;
}

static unsigned long long be64(const unsigned char *p) {
  unsigned long long value = 0;
  for (int i = 0; i < 8; i++) value = value << 8 | p[i];
  return value;
}

static void answer(HANDLE pipe, unsigned command, const unsigned char *payload, unsigned long long size) {
  unsigned char header[12];
  for (int i = 0; i < 4; i++) header[i] = (unsigned char)(command >> (24 - 8 * i));
  for (int i = 0; i < 8; i++) header[4 + i] = (unsigned char)(size >> (56 - 8 * i));
  writeAll(pipe, (const char *)header, 12);
  if (size) writeAll(pipe, (const char *)payload, (DWORD)size);
}

/* remotefs openfile: Read=0 Write=1 Seek=2 Close=3 in, Ok=4 Failed=5 out, big-endian. */
static DWORD openFile(FakeProcess *process, int writable) {
  size_t capacity = 1 << 20, length = 4, offset = 0;
  unsigned char *file = malloc(capacity), header[12];
  memcpy(file, "box\n", 4);
  while (readExactly(process->guestIn, header, 12)) {
    unsigned command = (unsigned)header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3];
    unsigned long long size = be64(header + 4);
    if (command == 0) {
      size_t n = offset < length ? length - offset : 0;
      if (n > size) n = (size_t)size;
      answer(process->guestOut, 4, file + offset, n);
      offset += n;
    } else if (command == 1) {
      unsigned char *data = malloc(size ? size : 1);
      if (!readExactly(process->guestIn, data, (DWORD)size)) { free(data); break; }
      if (!writable) {
        const char *error = "{\"ErrString\":\"write: bad file descriptor\",\"ErrNum\":9}";
        writeAll(process->guestErr, error, (DWORD)strlen(error));
        answer(process->guestOut, 5, NULL, 0);
      } else {
        if (offset + size > capacity) { capacity = (size_t)(offset + size) * 2; file = realloc(file, capacity); }
        memcpy(file + offset, data, (size_t)size);
        offset += (size_t)size;
        if (offset > length) length = offset;
        answer(process->guestOut, 4, NULL, 0);
      }
      free(data);
    } else if (command == 2) {
      unsigned char seek[12], reply[8];
      if (size != 12 || !readExactly(process->guestIn, seek, 12)) break;
      long long to = (long long)be64(seek);
      int whence = seek[8] << 24 | seek[9] << 16 | seek[10] << 8 | seek[11];
      offset = (size_t)(to + (whence == 1 ? (long long)offset : whence == 2 ? (long long)length : 0));
      for (int i = 0; i < 8; i++) reply[i] = (unsigned char)((unsigned long long)offset >> (56 - 8 * i));
      answer(process->guestOut, 4, reply, 8);
    } else {
      answer(process->guestOut, 4, NULL, 0);
      break;
    }
  }
  free(file);
  return 0;
}

static DWORD remotefs(FakeProcess *process, const char *arguments) {
  char command[32] = "", path[512] = "";
  int flag = 0;
  sscanf(arguments, "%31s %511s %d", command, path, &flag);
  if (strcmp(command, "openfile") == 0) return openFile(process, flag != 0);
  if (strcmp(command, "stat") == 0) {
    size_t n = strlen(path);
    if (n >= 9 && strcmp(path + n - 9, "/hostname") == 0) {
      const char *info = "{\"NameVar\":\"hostname\",\"SizeVar\":4,\"ModeVar\":420,\"ModTimeVar\":1700000000123456789,\"IsDirVar\":false}";
      writeAll(process->guestOut, info, (DWORD)strlen(info));
      return 0;
    }
    char error[700];
    snprintf(error, sizeof error, "{\"ErrString\":\"stat %s: no such file or directory\",\"ErrNum\":2}", path);
    writeAll(process->guestErr, error, (DWORD)strlen(error));
    return 1;
  }
  return 0;
}

static DWORD WINAPI guestThread(LPVOID argument) {
  FakeProcess *process = argument;
  const char *command = process->command;
  DWORD code = 0;
  if (strncmp(command, "echo ", 5) == 0) {
    writeAll(process->guestOut, command + 5, (DWORD)strlen(command + 5));
    writeAll(process->guestOut, "\n", 1);
  } else if (strcmp(command, "cat") == 0) {
    char buffer[65536];
    DWORD got;
    while (ReadFile(process->guestIn, buffer, sizeof buffer, &got, NULL) && got > 0) writeAll(process->guestOut, buffer, got);
  } else if (strncmp(command, "fail ", 5) == 0) {
    char *text = NULL;
    code = strtoul(command + 5, &text, 10);
    if (text && *text == ' ') text++;
    writeAll(process->guestErr, text, (DWORD)strlen(text));
  } else if (strncmp(command, "remotefs ", 9) == 0) {
    code = remotefs(process, command + 9);
  } else if (strcmp(command, "hang") == 0) {
    WaitForSingleObject(process->stop, INFINITE);
    code = 137;
  } else {
    code = 0; /* mkdir, mount, umount, test -d, sync: succeed */
  }
  CloseHandle(process->guestIn);
  CloseHandle(process->guestOut);
  CloseHandle(process->guestErr);
  process->exitCode = code;
  InterlockedExchange(&process->exited, 1);
  notify(&process->notifier, 0x10000 /* ProcessExited */, 0, "{}");
  return 0;
}

__declspec(dllexport) HRESULT WINAPI HcsCreateProcess(FakeSystem *system, PCWSTR parameters, HCS_PROCESS_INFORMATION *information, FakeProcess **processOut, PWSTR *result) {
  logLine("HcsCreateProcess", system->id, parameters);
  setResult(result, NULL);
  *processOut = NULL;
  memset(information, 0, sizeof *information);
  if (!system->running) return HCS_E_SYSTEM_NOT_FOUND;
  FakeProcess *process = calloc(1, sizeof *process);
  InitializeCriticalSection(&process->notifier.lock);
  char *json = utf8(parameters);
  field(json, "\"CommandLine\":\"", process->command, sizeof process->command);
  free(json);
  process->pid = InterlockedIncrement(&nextPid);
  process->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!makePipe(TRUE, &information->StdInput, &process->guestIn) || !makePipe(FALSE, &information->StdOutput, &process->guestOut) ||
      !makePipe(FALSE, &information->StdError, &process->guestErr)) {
    return HRESULT_FROM_WIN32(GetLastError());
  }
  information->ProcessId = process->pid;
  *processOut = process;
  CloseHandle(CreateThread(NULL, 0, guestThread, process, 0, NULL));
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsRegisterProcessCallback(FakeProcess *process, HCS_NOTIFICATION_CALLBACK callback, void *context, CallbackHandle **handle) {
  char target[32];
  snprintf(target, sizeof target, "%lu", process->pid);
  return registerOn(&process->notifier, "HcsRegisterProcessCallback", target, callback, context, handle);
}

__declspec(dllexport) HRESULT WINAPI HcsUnregisterProcessCallback(CallbackHandle *handle) {
  return unregisterOn(handle, "HcsUnregisterProcessCallback");
}

__declspec(dllexport) HRESULT WINAPI HcsGetProcessProperties(FakeProcess *process, PWSTR *properties, PWSTR *result) {
  char target[32], json[256];
  snprintf(target, sizeof target, "%lu", process->pid);
  logLine("HcsGetProcessProperties", target, NULL);
  setResult(result, NULL);
  snprintf(json, sizeof json, "{\"ProcessId\":%lu,\"Exited\":%s,\"ExitCode\":%lu,\"LastWaitResult\":0}", process->pid, process->exited ? "true" : "false", process->exitCode);
  *properties = cotask(json);
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsModifyProcess(FakeProcess *process, PCWSTR settings, PWSTR *result) {
  char target[32];
  snprintf(target, sizeof target, "%lu", process->pid);
  logLine("HcsModifyProcess", target, settings);
  setResult(result, NULL);
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsTerminateProcess(FakeProcess *process, PWSTR *result) {
  char target[32];
  snprintf(target, sizeof target, "%lu", process->pid);
  logLine("HcsTerminateProcess", target, NULL);
  setResult(result, NULL);
  SetEvent(process->stop);
  return S_OK;
}

__declspec(dllexport) HRESULT WINAPI HcsCloseProcess(FakeProcess *process) {
  char target[32];
  snprintf(target, sizeof target, "%lu", process->pid);
  logLine("HcsCloseProcess", target, NULL);
  return S_OK;
}
