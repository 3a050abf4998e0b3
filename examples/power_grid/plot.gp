# gnuplot -e "out='out'" examples/power_grid/plot.gp  (reads out/grid_estimates.csv)
# Columns: 1 time_s, 2 vm14_true, 3 vm14_est, 4 vm14_2sigma, 5 va14_true_deg,
# 6 va14_est_deg, 7 va14_2sigma_deg, 8 vmin_true, 9 vmax_true, 10 vset6_pu,
# 11 vset8_pu, 12 safe, 13 blind (the grid has stepped, no sample of it yet).
# The estimate is the belief the twin acts on in each 20 ms cycle.
set datafile separator ","
set terminal pngcairo size 1100,1250 font "sans,10"
set output out."/power_grid.png"
f = out."/grid_estimates.csv"
set grid
set style fill solid 1.0 noborder
set boxwidth 0.022 absolute  # a little over one 20 ms cycle: no seams
# every panel the same width, its legend to the right of its traces
set lmargin at screen 0.08
set rmargin at screen 0.74
panel(top, bottom) = sprintf("set tmargin at screen %g; set bmargin at screen %g; set key at screen 0.755, screen %g left top Left reverse samplen 2", top, bottom, top)
# safe state and blind time as shaded columns (boxes from y = 0, clipped)
safe(c) = c > 0 ? 100 : 1/0
SAFE = "#fdd0a2"
BLIND = "#d9d9d9"
BAND = "#c6dbef"
set multiplot title "IEEE 14-bus twin: EKF belief vs simulated truth, voltage control (load step at 30 s)"

eval panel(0.95, 0.76)
set ylabel "bus 14 |V| (pu)"
set yrange [0.92:1.07]
set xrange [0:60]
plot f every ::1 using 1:(safe($12)) with boxes lc rgb SAFE title "safe state engaged", \
     "" every ::1 using 1:($3-$4):($3+$4) with filledcurves fs transparent solid 0.7 lc rgb BAND title "belief +-2 sigma", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "truth", \
     "" every ::1 using 1:3 with lines lw 1 lc rgb "#2171b5" title "belief (estimate)", \
     0.95 with lines dt 2 lw 1.5 lc rgb "#cb181d" title "band [0.95, 1.05] pu", \
     1.05 with lines dt 2 lw 1.5 lc rgb "#cb181d" notitle

eval panel(0.71, 0.52)
set ylabel "bus 14 |V| (pu)"
set yrange [0.90:1.04]
set xrange [29.8:31.0]
set xtics 0.1
set label 1 "zoom on the step: the twin acts only while the truth is inside the band" \
    at graph 0.40, graph 0.08 left front font "sans,9"
plot f every ::1 using 1:(safe($12)) with boxes lc rgb SAFE title "safe state engaged", \
     "" every ::1 using 1:(safe($13)) with boxes lc rgb BLIND title "no sample of the step yet", \
     "" every ::1 using 1:($3-$4):($3+$4) with filledcurves fs transparent solid 0.7 lc rgb BAND title "belief +-2 sigma", \
     "" every ::1 using 1:2 with steps lw 2 lc rgb "black" title "truth", \
     "" every ::1 using 1:3 with steps lw 1.5 lc rgb "#2171b5" title "belief (estimate)", \
     0.95 with lines dt 2 lw 1.5 lc rgb "#cb181d" title "band [0.95, 1.05] pu"
unset label 1
set xtics autofreq

eval panel(0.47, 0.28)
set ylabel "bus 14 angle (deg)"
set yrange [-37:-8]
set xrange [0:60]
plot f every ::1 using 1:(safe($12)) with boxes lc rgb SAFE title "safe state engaged", \
     "" every ::1 using 1:($6-$7):($6+$7) with filledcurves fs transparent solid 0.7 lc rgb BAND title "belief +-2 sigma", \
     "" every ::1 using 1:5 with lines lw 2 lc rgb "black" title "truth", \
     "" every ::1 using 1:6 with lines lw 1 lc rgb "#2171b5" title "belief (estimate)"

eval panel(0.23, 0.04)
set ylabel "pu"
set xlabel "time (s)"
set yrange [0.92:1.12]
plot f every ::1 using 1:(safe($12)) with boxes lc rgb SAFE title "safe state engaged", \
     "" every ::1 using 1:8 with lines lw 1.5 lc rgb "black" title "lowest load-bus |V| (truth)", \
     "" every ::1 using 1:9 with lines lw 1.5 lc rgb "#969696" title "highest load-bus |V| (truth)", \
     "" every ::1 using 1:10 with steps lw 2 lc rgb "#d94801" title "setpoint bus 6 (applied)", \
     "" every ::1 using 1:11 with steps lw 2 lc rgb "#8c2d04" title "setpoint bus 8 (applied)", \
     0.95 with lines dt 2 lw 1.5 lc rgb "#cb181d" title "band [0.95, 1.05] pu", \
     1.05 with lines dt 2 lw 1.5 lc rgb "#cb181d" notitle
unset multiplot
