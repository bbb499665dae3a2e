/*
 * A fake computecore.dll for the Wine tests: exports HcsGrantVmGroupAccess (the HCS v2
 * call that GrantVmGroupAccess prefers where Windows has it), appends the path it was
 * given to FAKE_HCS_LOG, and refuses paths containing "denied" with E_ACCESSDENIED.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

__declspec(dllexport) HRESULT WINAPI HcsGrantVmGroupAccess(PCWSTR filePath) {
  char path[4096];
  WideCharToMultiByte(CP_UTF8, 0, filePath, -1, path, sizeof path, NULL, NULL);
  const char *log = getenv("FAKE_HCS_LOG");
  FILE *file = log ? fopen(log, "ab") : NULL;
  if (file) {
    fprintf(file, "HcsGrantVmGroupAccess\t%s\t(null)\n", path);
    fclose(file);
  }
  return strstr(path, "denied") ? E_ACCESSDENIED : S_OK;
}
