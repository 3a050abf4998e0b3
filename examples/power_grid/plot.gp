# gnuplot -e "out='out'" examples/power_grid/plot.gp  (reads out/grid_estimates.csv)
set datafile separator ","
set terminal pngcairo size 1000,900 font "sans,10"
set output out."/power_grid.png"
set key top right
set grid
set multiplot layout 3,1 title "IEEE 14-bus twin: EKF estimate vs simulated truth, voltage control"
set ylabel "bus 14 |V| (pu)"
plot out."/grid_estimates.csv" every ::1 using 1:($3-$4):($3+$4) with filledcurves lc rgb "#c6dbef" title "estimate +-2 sigma", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "truth", \
     "" every ::1 using 1:3 with lines lc rgb "#2171b5" title "estimate", \
     0.95 with lines dt 2 lc rgb "red" title "band [0.95, 1.05]"
set ylabel "bus 14 angle (deg)"
plot out."/grid_estimates.csv" every ::1 using 1:($6-$7):($6+$7) with filledcurves lc rgb "#c6dbef" title "estimate +-2 sigma", \
     "" every ::1 using 1:5 with lines lw 2 lc rgb "black" title "truth", \
     "" every ::1 using 1:6 with lines lc rgb "#2171b5" title "estimate"
set ylabel "pu"
set xlabel "time (s)"
plot out."/grid_estimates.csv" every ::1 using 1:8 with lines lc rgb "black" title "lowest load-bus |V| (truth)", \
     "" every ::1 using 1:9 with lines lc rgb "gray" title "highest load-bus |V| (truth)", \
     "" every ::1 using 1:10 with steps lw 2 lc rgb "#d94801" title "setpoint bus 6 (command)", \
     "" every ::1 using 1:11 with steps lw 2 lc rgb "#8c2d04" title "setpoint bus 8 (command)", \
     0.95 with lines dt 2 lc rgb "red" notitle, 1.05 with lines dt 2 lc rgb "red" notitle
unset multiplot
