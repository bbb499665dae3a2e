// Go's sort.Slice (pdqsort, Go 1.19 sort/zsortfunc.go and sort.go's xorshift), ported
// step for step and checked against Go itself by test/xattr-order.test.js.
// hcsshim orders block xattrs with a comparator that is not a strict weak order, so
// the result depends on the exact sequence of comparisons and swaps; only a faithful
// port reproduces it for more than 12 entries.

export type Less<T> = (a: T, b: T) => bool;

const INCREASING_HINT = 1;
const DECREASING_HINT = 2;
const UNKNOWN_HINT = 0;

class Sorter<T> {
  data: Array<T>;
  less: Less<T>;
  swaps: i32 = 0;

  constructor(data: Array<T>, less: Less<T>) {
    this.data = data;
    this.less = less;
  }

  lessAt(i: i32, j: i32): bool {
    return this.less(this.data[i], this.data[j]);
  }

  swap(i: i32, j: i32): void {
    const t = this.data[i];
    this.data[i] = this.data[j];
    this.data[j] = t;
  }

  insertionSort(a: i32, b: i32): void {
    for (let i = a + 1; i < b; i++) {
      for (let j = i; j > a && this.lessAt(j, j - 1); j--) this.swap(j, j - 1);
    }
  }

  siftDown(lo: i32, hi: i32, first: i32): void {
    let root = lo;
    while (true) {
      let child = 2 * root + 1;
      if (child >= hi) return;
      if (child + 1 < hi && this.lessAt(first + child, first + child + 1)) child++;
      if (!this.lessAt(first + root, first + child)) return;
      this.swap(first + root, first + child);
      root = child;
    }
  }

  heapSort(a: i32, b: i32): void {
    const first = a;
    const hi = b - a;
    for (let i = (hi - 1) / 2; i >= 0; i--) this.siftDown(i, hi, first);
    for (let i = hi - 1; i >= 0; i--) {
      this.swap(first, first + i);
      this.siftDown(0, i, first);
    }
  }

  pdqsort(a: i32, b: i32, limit: i32): void {
    const maxInsertion = 12;
    let wasBalanced = true;
    let wasPartitioned = true;
    while (true) {
      const length = b - a;
      if (length <= maxInsertion) {
        this.insertionSort(a, b);
        return;
      }
      if (limit == 0) {
        this.heapSort(a, b);
        return;
      }
      if (!wasBalanced) {
        this.breakPatterns(a, b);
        limit--;
      }
      let pivot = this.choosePivot(a, b);
      let hint = this.hint;
      if (hint == DECREASING_HINT) {
        this.reverseRange(a, b);
        pivot = (b - 1) - (pivot - a);
        hint = INCREASING_HINT;
      }
      if (wasBalanced && wasPartitioned && hint == INCREASING_HINT) {
        if (this.partialInsertionSort(a, b)) return;
      }
      if (a > 0 && !this.lessAt(a - 1, pivot)) {
        a = this.partitionEqual(a, b, pivot);
        continue;
      }
      const mid = this.partition(a, b, pivot);
      wasPartitioned = this.alreadyPartitioned;
      const leftLen = mid - a;
      const rightLen = b - mid;
      const balanceThreshold = length / 8;
      if (leftLen < rightLen) {
        wasBalanced = leftLen >= balanceThreshold;
        this.pdqsort(a, mid, limit);
        a = mid + 1;
      } else {
        wasBalanced = rightLen >= balanceThreshold;
        this.pdqsort(mid + 1, b, limit);
        b = mid;
      }
    }
  }

  alreadyPartitioned: bool = false;

  partition(a: i32, b: i32, pivot: i32): i32 {
    this.swap(a, pivot);
    let i = a + 1;
    let j = b - 1;
    while (i <= j && this.lessAt(i, a)) i++;
    while (i <= j && !this.lessAt(j, a)) j--;
    if (i > j) {
      this.swap(j, a);
      this.alreadyPartitioned = true;
      return j;
    }
    this.swap(i, j);
    i++;
    j--;
    while (true) {
      while (i <= j && this.lessAt(i, a)) i++;
      while (i <= j && !this.lessAt(j, a)) j--;
      if (i > j) break;
      this.swap(i, j);
      i++;
      j--;
    }
    this.swap(j, a);
    this.alreadyPartitioned = false;
    return j;
  }

  partitionEqual(a: i32, b: i32, pivot: i32): i32 {
    this.swap(a, pivot);
    let i = a + 1;
    let j = b - 1;
    while (true) {
      while (i <= j && !this.lessAt(a, i)) i++;
      while (i <= j && this.lessAt(a, j)) j--;
      if (i > j) break;
      this.swap(i, j);
      i++;
      j--;
    }
    return i;
  }

  partialInsertionSort(a: i32, b: i32): bool {
    const maxSteps = 5;
    const shortestShifting = 50;
    let i = a + 1;
    for (let step = 0; step < maxSteps; step++) {
      while (i < b && !this.lessAt(i, i - 1)) i++;
      if (i == b) return true;
      if (b - a < shortestShifting) return false;
      this.swap(i, i - 1);
      if (i - a >= 2) {
        for (let j = i - 1; j >= 1; j--) {
          if (!this.lessAt(j, j - 1)) break;
          this.swap(j, j - 1);
        }
      }
      if (b - i >= 2) {
        for (let j = i + 1; j < b; j++) {
          if (!this.lessAt(j, j - 1)) break;
          this.swap(j, j - 1);
        }
      }
    }
    return false;
  }

  breakPatterns(a: i32, b: i32): void {
    const length = b - a;
    if (length >= 8) {
      let random: u64 = <u64>length;
      const modulus: u64 = <u64>1 << <u64>bitLength(<u32>length);
      const first = a + (length / 4) * 2 - 1;
      for (let idx = first; idx <= first + 2; idx++) {
        random ^= random << 13;
        random ^= random >> 17;
        random ^= random << 5;
        let other = <i32>(random & (modulus - 1));
        if (other >= length) other -= length;
        this.swap(idx, a + other);
      }
    }
  }

  hint: i32 = UNKNOWN_HINT;

  choosePivot(a: i32, b: i32): i32 {
    const shortestNinther = 50;
    const maxSwaps = 4 * 3;
    const l = b - a;
    this.swaps = 0;
    let i = a + l / 4 * 1;
    let j = a + l / 4 * 2;
    let k = a + l / 4 * 3;
    if (l >= 8) {
      if (l >= shortestNinther) {
        i = this.median(i - 1, i, i + 1);
        j = this.median(j - 1, j, j + 1);
        k = this.median(k - 1, k, k + 1);
      }
      j = this.median(i, j, k);
    }
    this.hint = this.swaps == 0 ? INCREASING_HINT : (this.swaps == maxSwaps ? DECREASING_HINT : UNKNOWN_HINT);
    return j;
  }

  /** Index of the median of data[a], data[b], data[c], counting swaps as Go's order2. */
  median(a: i32, b: i32, c: i32): i32 {
    if (this.lessAt(b, a)) { this.swaps++; const t = a; a = b; b = t; }
    if (this.lessAt(c, b)) { this.swaps++; const t = b; b = c; c = t; }
    if (this.lessAt(b, a)) { this.swaps++; const t = a; a = b; b = t; }
    return b;
  }

  reverseRange(a: i32, b: i32): void {
    let i = a;
    let j = b - 1;
    while (i < j) {
      this.swap(i, j);
      i++;
      j--;
    }
  }
}

function bitLength(x: u32): i32 {
  return 32 - <i32>clz<u32>(x);
}

/** sort.Slice(data, less) exactly as Go 1.19+ does it. */
export function goSortSlice<T>(data: Array<T>, less: Less<T>): void {
  const sorter = new Sorter<T>(data, less);
  sorter.pdqsort(0, data.length, bitLength(<u32>data.length));
}
