/** ROC AUC by ranks (Mann-Whitney U), with tied scores given their average rank; NaN with one class only. */
export function rocAuc(yTrue: readonly number[], scores: readonly number[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = avg;
    i = j + 1;
  }
  let nPos = 0;
  let rankSum = 0;
  yTrue.forEach((y, i) => {
    if (y === 1) {
      nPos++;
      rankSum += ranks[i]!;
    }
  });
  const nNeg = yTrue.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
