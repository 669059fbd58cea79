<?php

// Writes src/Evaluator/Data/CaseClasses.php: the characters that are equal
// under Unicode simple case folding, in groups (only groups of two or more).
// Run from sdk-php/: php tools/case-classes.php > src/Evaluator/Data/CaseClasses.php

declare(strict_types=1);

$groups = [];
for ($cp = 0; $cp <= 0x10FFFF; $cp++) {
    if ($cp >= 0xD800 && $cp <= 0xDFFF) {
        continue;
    }
    $c = mb_chr($cp, 'UTF-8');
    $groups[mb_convert_case($c, MB_CASE_FOLD_SIMPLE, 'UTF-8')][] = $cp;
}
$lines = [];
foreach ($groups as $members) {
    if (count($members) > 1) {
        $lines[] = '        [' . implode(', ', array_map(fn (int $cp): string => sprintf('0x%X', $cp), $members)) . '],';
    }
}
$template = file_get_contents(__DIR__ . '/case-classes.template');
echo str_replace('%GROUPS%', implode("\n", $lines), $template);
